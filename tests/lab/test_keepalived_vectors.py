"""The keepalived captures are what their index says, and the lab writes keepalived's config.

The captured bytes are read here with the standard library alone (RFC 9568 section 5.1: version
and type, VRID, priority, address count, 12-bit interval, checksum, addresses), independently of
pycarp's codec: a codec test that trusts ``index.json`` must be able to trust it.
"""

from __future__ import annotations

import ipaddress
import json
import pathlib
import struct
import typing

import pytest

from pycarp.core.constants import IPAddress
from pycarp.lab.keepalived import Instance, config_text
from pycarp.lab.naming import LabError
from pycarp.pcap import read_packets

VECTORS = pathlib.Path(__file__).resolve().parent.parent / "vectors" / "keepalived"
INDEX = json.loads((VECTORS / "index.json").read_text())
VRRP_V3_ADVERT = 0x31


def _sum16(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def _pseudo_header(source: IPAddress, destination: IPAddress, length: int) -> bytes:
    if source.version == 4:
        return source.packed + destination.packed + struct.pack("!BBH", 0, 112, length)
    return source.packed + destination.packed + struct.pack("!I3xB", length, 112)


@pytest.mark.parametrize("entry", INDEX["captures"], ids=lambda entry: entry["file"])
def test_capture_matches_its_index(entry: dict[str, typing.Any]) -> None:
    with (VECTORS / entry["file"]).open("rb") as stream:
        packets = list(read_packets(stream))
    assert len(packets) == entry["packets"] >= 2
    for number, captured in enumerate(packets, start=1):
        ip, payload = captured.packet, captured.packet.payload
        assert ip.source.version == entry["family"]
        assert ip.ttl == 255
        assert payload[0] == VRRP_V3_ADVERT
        vrid, priority, count, interval = struct.unpack_from("!BBBH", payload, 1)
        assert vrid == entry["vrid"]
        last = number == len(packets)
        assert priority == (0 if last and entry["last_is_priority_0"] else entry["priority"])
        assert interval & 0x0FFF == entry["interval_cs"]
        assert interval >> 12 == 0
        size = 4 if entry["family"] == 4 else 16
        assert len(payload) == 8 + count * size
        found = [
            str(ipaddress.ip_address(payload[8 + i * size : 8 + (i + 1) * size]))
            for i in range(count)
        ]
        assert found == entry["addresses"]
        pseudo = _pseudo_header(ip.source, ip.destination, len(payload))
        assert _sum16(pseudo + payload) == 0xFFFF, f"packet {number}: checksum"
        assert _sum16(payload) != 0xFFFF, f"packet {number}: also valid without pseudo-header"


def test_index_covers_both_families_several_addresses_and_intervals() -> None:
    captures = INDEX["captures"]
    assert INDEX["keepalived"] == "2.2.7"
    assert {entry["family"] for entry in captures} == {4, 6}
    assert {len(entry["addresses"]) for entry in captures} >= {1, 2, 3}
    assert len({entry["interval_cs"] for entry in captures}) >= 4
    assert len({entry["priority"] for entry in captures}) >= 4


def test_config_for_ipv4_and_ipv6_instances() -> None:
    text = config_text(
        "h1",
        [
            Instance(7, ("198.51.100.100/24",), 150, 0.1, preempt=False),
            Instance(7, ("2001:db8::100/64", "2001:db8::101/64"), 90, 0.5, preempt_delay=2),
        ],
        notify=pathlib.Path("/run/n.sh"),
    )
    assert "vrrp_version 3" in text
    v4, v6 = text.split("vrrp_instance ")[1:]
    assert v4.startswith("VI_7_4 {")
    assert v6.startswith("VI_7_6 {")
    assert "priority 150" in v4
    assert "advert_int 0.1" in v4
    assert "nopreempt" in v4
    assert "198.51.100.100/24 dev eth0" in v4
    assert "preempt_delay" not in v4
    assert "priority 90" in v6
    assert "preempt_delay 2" in v6
    assert "nopreempt" not in v6
    assert "2001:db8::101/64 dev eth0" in v6
    assert "notify /run/n.sh" in v6
    assert "v3_checksum_as_v2" not in text
    flagged = config_text("h2", [Instance(1, ("198.51.100.1/24",), checksum_as_v2=True)])
    assert "    v3_checksum_as_v2\n" in flagged


def test_an_instance_is_one_family() -> None:
    with pytest.raises(LabError, match="IPv4 or IPv6"):
        Instance(1, ("198.51.100.1/24", "2001:db8::1/64"))
