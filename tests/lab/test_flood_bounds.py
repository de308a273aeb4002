"""The flooder's bounds, checked without root: it must refuse before a single packet leaves.

Sources outside the documentation networks, rates, durations and packet counts above the caps,
malformed replays, and any network namespace that is not a lab's are all refused with exit
status 2 and a message naming what was wrong. The packets themselves are checked here too:
a forged advert passes every cheap check of a receiver (that is what makes it a flood worth
testing) and only its digest is wrong.
"""

from __future__ import annotations

import ipaddress
import random

import pytest

from pycarp.core import wire
from pycarp.core.auth import compute_digest
from pycarp.lab import flood
from pycarp.lab.forge import forged_pool, ip_header_checksum, ip_packet

NET = ipaddress.IPv4Network("198.51.100.0/24")


@pytest.mark.parametrize(
    "text", ["198.51.100.0/24", "198.51.100.128/25", "203.0.113.0/24", "203.0.113.7/32"]
)
def test_documentation_networks_are_allowed(text: str) -> None:
    assert flood.allowed_network(text) == ipaddress.IPv4Network(text)


@pytest.mark.parametrize(
    "text", ["10.0.0.0/8", "198.51.0.0/16", "0.0.0.0/0", "192.0.2.0/24", "2001:db8::/32", "x"]
)
def test_anything_else_is_refused(text: str) -> None:
    with pytest.raises(flood.FloodError):
        flood.allowed_network(text)


@pytest.mark.parametrize("text", ["10.1.2.3", "192.0.2.1", "224.0.0.18", "2001:db8::1", "bad"])
def test_replay_sources_outside_the_documentation_networks_are_refused(text: str) -> None:
    with pytest.raises(flood.FloodError):
        flood.allowed_source(text)


@pytest.mark.parametrize(
    ("rate", "duration", "cap"),
    [(200_001, 1, 10_000_000), (0, 1, 100), (1000, 121, 10_000_000), (1000, 0, 100),
     (100_000, 101, 10_000_000), (1000, 10, 9_999), (1000, 10, 10_000_001)],
)  # fmt: skip
def test_bounds_are_enforced(rate: float, duration: float, cap: int) -> None:
    with pytest.raises(flood.FloodError):
        flood.check_bounds(rate, duration, cap)


def test_bounds_give_the_packet_count() -> None:
    assert flood.check_bounds(50_000, 30, flood.MAX_PACKETS) == 1_500_000


@pytest.mark.parametrize(
    ("argv", "complaint"),
    [
        (["--src-net", "10.0.0.0/24"], "outside 198.51.100.0/24"),
        (["--rate", "250000"], "--rate"),
        (["--duration", "500"], "--duration"),
        (["--rate", "100000", "--duration", "120"], "above the cap"),
        (["--replay", "zz", "--source", "198.51.100.9"], "not hex"),
        (["--replay", "21"], "needs --source"),
        (["--replay", "21", "--source", "10.0.0.1"], "outside 198.51.100.0/24"),
        (["--replay", "21", "--source", "198.51.100.9", "--count", "5000"], "--count"),
        (
            ["--replay", "21", "--source", "198.51.100.9", "--every", "100", "--count", "3"],
            "exceed",
        ),
        (["--vhid", "0"], "--vhid"),
        (["--advbase", "0"], "--advbase"),
    ],
)
def test_the_command_line_refuses_with_status_2(
    argv: list[str], complaint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert flood.main(argv) == 2
    assert complaint in capsys.readouterr().err


def test_it_refuses_to_run_outside_a_lab_namespace(capsys: pytest.CaptureFixture[str]) -> None:
    """This test process is not in a ``pcl-*`` namespace: valid arguments, still nothing sent."""
    assert flood.main(["--rate", "10", "--duration", "0.1"]) == 2
    assert "not inside a lab network namespace" in capsys.readouterr().err


def test_a_forged_advert_passes_every_cheap_check_but_the_digest() -> None:
    pool = forged_pool(NET, vhid=7, advbase=1, advskew=0, rng=random.Random(1), size=64)
    assert len(set(pool)) == 64
    for packet in pool:
        assert (packet[0], packet[8], packet[9]) == (0x45, 255, 112)  # IPv4, TTL 255, CARP
        assert wire.internet_checksum(packet[:20]) == 0  # header checksum filled in
        assert ipaddress.IPv4Address(packet[16:20]) == ipaddress.IPv4Address("224.0.0.18")
        source = ipaddress.IPv4Address(packet[12:16])
        assert source in NET
        assert source not in (NET.network_address, NET.broadcast_address)
        advert = wire.decode(packet[20:])  # checksum, version, type, authlen, advbase: fine
        assert (advert.vhid, advert.advbase, advert.advskew) == (7, 1, 0)
        real = compute_digest(b"secret", 7, [ipaddress.IPv4Address("198.51.100.100")],
                              advert.counter_bytes)  # fmt: skip
        assert advert.digest != real


def test_a_replayed_payload_is_sent_byte_for_byte() -> None:
    payload = bytes(range(36))
    packet = ip_packet(payload, ipaddress.IPv4Address("198.51.100.0"))
    assert packet[20:] == payload
    assert int.from_bytes(packet[2:4], "big") == 56
    assert ip_header_checksum(packet) == packet
