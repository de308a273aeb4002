"""The flooder does what it reports: rate, count, packet contents, replayed bytes, only in the lab.

These pass on any daemon (no daemon runs): they check the tool the hostile-segment tests and
``bench/flood.py`` rely on, from the bridge's point of view (tcpdump in the switch namespace).
"""

from __future__ import annotations

import ipaddress
import itertools
import pathlib
import time

import pytest

from pycarp.core import wire
from pycarp.lab import CLIENT, Lab
from pycarp.lab.capture import AdvertCapture
from pycarp.lab.daemons import wait_for
from pycarp.lab.hostile import start_flood, start_replay

RATE, SECONDS = 2_000, 1.0
NET = ipaddress.IPv4Network("198.51.100.0/24")


@pytest.mark.parametrize("method", ["frames", "raw"])
def test_flood_sends_forged_adverts_at_the_rate_it_reports(
    root: None, tmp_path: pathlib.Path, method: str
) -> None:
    with (
        Lab.create(hosts=1, client=True) as lab,
        AdvertCapture(lab, tmp_path / "flood.pcap") as capture,
    ):
        sent = start_flood(
            lab, CLIENT, vhid=9, rate=RATE, duration=SECONDS, seed=3, method=method
        ).wait()
        wait_for(lambda: len(capture.packets()) >= sent.sent, 5.0)
        packets = capture.packets()

    assert sent.sent >= 0.98 * RATE * SECONDS
    assert abs(sent.rate - RATE) <= 0.05 * RATE
    assert (sent.errors, sent.behind) == (0, 0)
    assert len(packets) == sent.sent
    stamps = sorted(p.timestamp for p in packets)
    assert stamps[-1] - stamps[0] == pytest.approx(SECONDS, abs=0.1)  # paced, not one burst
    for captured in packets:
        packet = captured.packet
        assert (packet.ttl, packet.protocol) == (255, 112)
        assert packet.destination == ipaddress.IPv4Address("224.0.0.18")
        assert packet.source in NET
        advert = wire.decode(packet.payload)
        assert (advert.vhid, advert.advbase, advert.advskew) == (9, 1, 0)


def test_replay_sends_the_given_bytes_from_the_given_source_in_turn(
    root: None, tmp_path: pathlib.Path
) -> None:
    first, second = bytes(range(36)), bytes(range(100, 136))
    with (
        Lab.create(hosts=1, client=True) as lab,
        AdvertCapture(lab, tmp_path / "replay.pcap") as capture,
    ):
        sent = start_replay(
            lab, CLIENT, [first, second], source="203.0.113.9", every=0.2, count=4
        ).wait()
        wait_for(lambda: len(capture.packets()) >= 4, 5.0)
        packets = capture.packets()

    assert sent.sent == 4
    assert len(sent.sent_at) == 4
    assert [p.packet.payload for p in packets] == [first, second, first, second]
    assert {str(p.packet.source) for p in packets} == {"203.0.113.9"}
    gaps = [b.timestamp - a.timestamp for a, b in itertools.pairwise(packets)]
    assert all(0.15 <= gap <= 0.5 for gap in gaps), gaps


def test_a_stopped_flood_stops_at_once_and_still_reports(root: None) -> None:
    with Lab.create(hosts=1, client=True) as lab:
        sender = start_flood(lab, CLIENT, vhid=1, rate=1_000, duration=60)
        wait_for(lambda: sender.process.poll() is not None or _sending(lab), 15.0)
        time.sleep(1.0)
        stopped = time.monotonic()
        sent = sender.stop()
        took = time.monotonic() - stopped
    assert took < 2.0
    assert 0 < sent.seconds < 10
    assert sent.sent == pytest.approx(1_000 * sent.seconds, rel=0.05)


def _sending(lab: Lab) -> bool:
    done = lab.exec(CLIENT, ["cat", "/sys/class/net/eth0/statistics/tx_packets"], check=True)
    return int(done.stdout) > 10
