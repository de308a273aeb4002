"""A hostile host on the segment, without the key, must not take the address offline.

h1 is master (advskew 0), h2 backup (advskew 100), the lab's ``client`` is the attacker
(:mod:`pycarp.lab.flood`). Each test fails on a daemon without flood and replay defences:

* a flood of forged adverts (right vhid, advskew 0, TTL 255, valid checksum, random digest,
  random sources in 198.51.100.0/24) must not delay h1's adverts nor move anybody;
* h1's own signed adverts, replayed from another address, must not make h1 yield;
* after h1 dies, replays of its adverts must not keep h2 waiting.

The capture on the bridge leaves out the attacker's frames (by MAC): what it shows of h1 is
what h1 really sent, even when the attacker forges h1's address.
"""

from __future__ import annotations

import itertools
import pathlib
import time

import pytest

from pycarp.lab import CLIENT, Lab
from pycarp.lab.capture import Advert, AdvertCapture
from pycarp.lab.daemons import wait_for
from pycarp.lab.hostile import replay_once, start_flood, start_replay

from .faults import (
    ADVBASE,
    POLL,
    SLACK,
    VIRTUAL_V4,
    AddressWatch,
    Group,
    master_down,
    state_changes,
)

pytestmark = pytest.mark.slow

# Packets/s. 30,000, not the 50,000: at 50,000/s on the 2-core test machine the
# flooder (at nice -10) holds half a CPU and each daemon needs ~0.85 of one to read and reject
# every packet (~17 us each: recvmsg, parse, one HMAC), so the backup's socket overflows and
# drops h1's adverts with the flood's: on 2026-12-01 the test passed 1 of 3 times on 40bc648,
# 3 of 3 on 3d1cc36 and 2 of 6 on c695ceb (no change to the receive path between them). At
# 30,000/s it passed 3 of 3 (h1's worst spacing 1.034 s). The daemon without the flood
# defences fails at this rate too: its adverts came +615 ms late (docs/benchmarks.md section
# 5, "Before"), beyond MAX_SPACING. bench/flood.py measures 50,000/s.
FLOOD_RATE = 30_000
# 20 s: an undefended master stepped down ~2.5 s into a 50,000/s flood; 20 s is eight of those,
# about six of the backup's master-down intervals and twenty advert spacings to judge.
FLOOD_SECONDS = 20.0
FLOOD_NICE = -10  # the attacker is a separate machine in reality: here it must not lose the CPU
MIN_RATE_FRACTION = 0.9  # below this the flood did not test what it claims: the test fails
# Spacing of h1's adverts during an attack (advbase 1). 1.25 s: each advert at most 250 ms
# late. A skipped advert (>= 2 s) fails, so does anything near the daemon's stall detection
# (a timer 2 s late makes a master step down) or the backup's master-down interval (3.4 s);
# 250 ms leaves room for a two-core machine shared with other test runs (bench/flood.py
# measures the real figure against its 100 ms target). The lower bound, 0.9 s, catches a
# master that answers the attacker with extra adverts (an amplifier).
MAX_SPACING = ADVBASE + 0.25
MIN_SPACING = ADVBASE - 0.1
REPLAY_SOURCE = "198.51.100.0"  # ranks below h1 in the equal-timing tie-break: h1 would yield
REPLAYS, REPLAY_EVERY = 10, 2.0
TAKEOVER_MARGIN = 1.0  # seconds beyond the backup's master-down interval, after a kill


def _own(adverts: list[Advert], source: str) -> list[Advert]:
    """``source``'s adverts for vhid 1, bow-outs left out."""
    return [
        a
        for a in adverts
        if a.source == source
        and a.advert.vhid == 1
        and (a.advert.advbase, a.advert.advskew) != (255, 255)
    ]


def _spacings(adverts: list[Advert], start: float, end: float) -> list[float]:
    """Spacings of the adverts over [start, end], from the last one before ``start``, with the
    silence from the last one to ``end`` as a final spacing (a master that fell silent)."""
    stamps = [a.timestamp for a in adverts]
    sequence = [s for s in stamps if s < start][-1:] + [s for s in stamps if start <= s <= end]
    assert sequence, "no advert from the master at all"
    return [b - a for a, b in itertools.pairwise(sequence)] + [end - sequence[-1]]


def _received(lab: Lab, node: str) -> int:
    """Packets received on the node's ``eth0``: the flood reached the victim, not just the wire."""
    done = lab.exec(node, ["cat", "/sys/class/net/eth0/statistics/rx_packets"], check=True)
    return int(done.stdout)


def _elect(lab: Lab, tmp_path: pathlib.Path) -> Group:
    group = Group(lab, tmp_path)
    group.elect("h1", ["h2"])
    time.sleep(2 * ADVBASE)  # h2 has heard h1: both are in their steady state
    return group


def test_forged_advert_flood_moves_nobody_and_delays_no_advert(
    root: None, tmp_path: pathlib.Path
) -> None:
    with Lab.create(hosts=2, client=True) as lab:
        capture = AdvertCapture(lab, tmp_path / "flood.pcap", exclude_nodes=[CLIENT])
        with capture:
            group = _elect(lab, tmp_path)
            before = {node: state_changes(group[node]) for node in ("h1", "h2")}
            watches = [AddressWatch(lab, n, tmp_path / f"{n}-addr.txt") for n in ("h1", "h2")]
            received_before = _received(lab, "h1")
            flood = start_flood(
                lab, CLIENT, vhid=1, rate=FLOOD_RATE, duration=FLOOD_SECONDS, nice=FLOOD_NICE
            )
            holders = []
            deadline = time.monotonic() + FLOOD_SECONDS + SLACK
            while flood.process.poll() is None and time.monotonic() < deadline:
                holders.append(group.holders())
                time.sleep(0.5)
            sent = flood.wait()
            received = _received(lab, "h1") - received_before
            group.assert_alive()
            events = {w.node: w.events(VIRTUAL_V4) for w in watches}
            for watch in watches:
                watch.stop()
            after = {node: state_changes(group[node]) for node in ("h1", "h2")}
            adverts = capture.adverts()

    print(f"flood: {sent.sent} packets at {sent.rate:.0f}/s ({sent.behind} behind)")
    assert sent.rate >= MIN_RATE_FRACTION * FLOOD_RATE, f"flooder too slow: {sent}"
    assert received >= sent.sent, f"h1 received {received} of {sent.sent} packets"
    assert after == before, f"state changed during the flood:\n{group.report()}"
    assert events == {"h1": [], "h2": []}, f"the address moved: {events}"
    assert holders, "no look at the holders during the flood"
    assert all(seen == ["h1"] for seen in holders), f"holders seen: {holders}"
    h1, h2 = str(lab.ipv4("h1").ip), str(lab.ipv4("h2").ip)
    end = sent.started_at + sent.seconds
    spacings = _spacings(_own(adverts, h1), sent.started_at, end)
    print(f"h1 advert spacing during the flood: {min(spacings):.3f}..{max(spacings):.3f} s")
    assert max(spacings) <= MAX_SPACING, f"h1's adverts late or missing: {spacings}"
    assert min(spacings[:-1], default=ADVBASE) >= MIN_SPACING, f"extra adverts: {spacings}"
    assert not [a for a in _own(adverts, h2) if a.timestamp >= sent.started_at]


def test_replayed_own_advert_from_another_address_does_not_make_the_master_yield(
    root: None, tmp_path: pathlib.Path
) -> None:
    """h1's real adverts, replayed from 198.51.100.0 every 2 s, ten times.

    The replays alternate between one advert captured a few seconds before the first replay
    (20 s old by the last: an attacker replays what it captured once, for ever) and h1's most
    recent advert at that moment (its counter equals h1's current one), so a defence that only
    remembers its latest counter, or only older ones, fails too.
    """
    with Lab.create(hosts=2, client=True) as lab:
        capture = AdvertCapture(lab, tmp_path / "replay.pcap", exclude_nodes=[CLIENT])
        with capture:
            group = _elect(lab, tmp_path)
            h1, h2 = str(lab.ipv4("h1").ip), str(lab.ipv4("h2").ip)
            wait_for(lambda: len(_own(capture.adverts(), h1)) >= 4, 4 * ADVBASE + SLACK, POLL)
            old = _own(capture.adverts(), h1)[-3].payload
            before = {node: state_changes(group[node]) for node in ("h1", "h2")}
            watch = AddressWatch(lab, "h1", tmp_path / "h1-addr.txt")
            started = time.time()
            for sequence in range(REPLAYS):
                due = started + sequence * REPLAY_EVERY
                time.sleep(max(0.0, due - time.time()))
                payload = old if sequence % 2 == 0 else _own(capture.adverts(), h1)[-1].payload
                replay_once(lab, CLIENT, payload, source=REPLAY_SOURCE)
                assert group.holders() == ["h1"], f"after replay {sequence + 1}\n{group.report()}"
            time.sleep(master_down(100))  # a late effect of the last replay would show by now
            group.assert_alive()
            events = watch.events(VIRTUAL_V4)
            watch.stop()
            after = {node: state_changes(group[node]) for node in ("h1", "h2")}
            adverts = capture.adverts()
            ended = time.time()

    assert after == before, f"state changed under replay:\n{group.report()}"
    assert events == [], f"the address moved on h1: {events}"
    spacings = _spacings(_own(adverts, h1), started, ended)
    assert max(spacings) <= MAX_SPACING, f"h1's adverts late or missing: {spacings}"
    assert not [a for a in _own(adverts, h2) if a.timestamp >= started]


def test_replayed_adverts_of_a_dead_master_do_not_keep_the_backup_waiting(
    root: None, tmp_path: pathlib.Path
) -> None:
    """h1 is killed (-9); from then on its adverts are replayed once a second, from its address.

    The replays alternate between h1's last advert and one from a few seconds earlier. h2 must
    take over as if nobody were replaying: within its master-down interval (3.4 s) of the
    kill, plus a margin for the machine.
    """
    limit = master_down(100) + TAKEOVER_MARGIN
    with Lab.create(hosts=2, client=True) as lab:
        capture = AdvertCapture(lab, tmp_path / "dead.pcap", exclude_nodes=[CLIENT])
        with capture:
            group = _elect(lab, tmp_path)
            h1, h2 = str(lab.ipv4("h1").ip), str(lab.ipv4("h2").ip)
            wait_for(lambda: len(_own(capture.adverts(), h1)) >= 4, 4 * ADVBASE + SLACK, POLL)
            group["h1"].kill()
            killed_at = time.time()
            time.sleep(0.1)  # tcpdump writes each packet at once; the last one is on file
            mine = _own(capture.adverts(), h1)
            replayer = start_replay(
                lab, CLIENT, [mine[-1].payload, mine[-4].payload], source=h1, every=1.0, count=10
            )
            took = wait_for(
                lambda: bool([a for a in _own(capture.adverts(), h2) if a.timestamp > killed_at]),
                10 * 1.0 + master_down(100) + SLACK,  # an undefended h2 waits for the replays' end
                POLL,
            )
            sent = replayer.wait()
            adverts = capture.adverts()
            h2_changes = [(c.old, c.new) for c in state_changes(group["h2"])]

    first = next(a.timestamp for a in _own(adverts, h2) if a.timestamp > killed_at)
    replays_before = [t for t in sent.sent_at if t < first]
    print(
        f"takeover {first - killed_at:.3f} s after the kill (seen {took:.1f} s), "
        f"{len(replays_before)} replays before it; limit {limit:.3f} s"
    )
    assert replays_before, "no replay reached the segment before the takeover: nothing tested"
    assert first - killed_at <= limit, f"h2 waited {first - killed_at:.2f} s: replays held it"
    assert h2_changes == [("INIT", "BACKUP"), ("BACKUP", "MASTER")], h2_changes
