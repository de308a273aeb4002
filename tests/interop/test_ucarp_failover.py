"""pycarp and ucarp 1.5.2 in one group: each as master with the other as backup, both ways.

ucarp's peculiarities shape the bounds: it reads packets up to a second late (its capture
delivers in batches), sends random counters until it hears a peer and never checks counters,
and leaves its address behind when killed (no clean-up). Without ``--preempt`` nobody takes a
group over from a slower master; with it, the faster host does at its first advert heard.
"""

from __future__ import annotations

import itertools
import pathlib
import signal
import time

from pycarp.lab import Lab
from pycarp.lab.capture import AdvertCapture
from pycarp.lab.daemons import pycarp_args, start_pycarp, start_ucarp, wait_for

from .support import (
    SETTLE,
    STARTUP,
    TAKEOVER,
    VIRTUAL_PREFIX,
    assert_steady,
    remove_address,
    states,
    wait_holders,
    wait_state,
)

WORSE = 100  # advskew of the host that should not be master


def test_ucarp_master_pycarp_backup_takeover_and_preempt(lab: Lab, tmp_path: pathlib.Path) -> None:
    ucarp = start_ucarp(lab, "h1", workdir=tmp_path)
    wait_state(ucarp, "MASTER", STARTUP)
    wait_holders(lab, ["h1"], SETTLE)

    args = pycarp_args(lab, "h2", addresses=[VIRTUAL_PREFIX], advskew=WORSE)
    pycarp = start_pycarp(lab, "h2", args, workdir=tmp_path)
    wait_state(pycarp, "BACKUP", SETTLE)
    assert_steady(lab, [ucarp, pycarp], holder="h1")
    assert states(pycarp) == ["BACKUP"]

    h1, h2 = str(lab.ipv4("h1").ip), str(lab.ipv4("h2").ip)
    with AdvertCapture(lab, tmp_path / "takeover.pcap") as capture:
        wait_for(lambda: any(a.source == h1 for a in capture.adverts()), SETTLE)
        ucarp.kill()  # no clean-up: ucarp's address stays on h1, as after a crash
        wait_state(pycarp, "MASTER", TAKEOVER)
        wait_for(lambda: sum(a.source == h2 for a in capture.adverts()) >= 2, SETTLE)
        adverts = capture.adverts()
    # The counter: pycarp keeps its own count (+1 per advert) instead of continuing ucarp's,
    # so no receiver takes its adverts for replays of ucarp's (docs/behaviour.md, "Replays").
    ucarp_counters = {a.advert.counter for a in adverts if a.source == h1}
    mine = [a.advert.counter for a in adverts if a.source == h2]
    assert len(mine) >= 2
    assert all((b - a) % 2**64 == 1 for a, b in itertools.pairwise(mine))
    assert not ucarp_counters & set(mine)
    remove_address(lab, "h1")  # the operator tidies up before restarting ucarp
    wait_holders(lab, ["h2"], SETTLE)

    # Restarted without --preempt, a faster ucarp leaves the slower master alone.
    calm = start_ucarp(lab, "h1", workdir=tmp_path, tag="-calm")
    wait_state(calm, "BACKUP", SETTLE)
    assert_steady(lab, [calm, pycarp], holder="h2")
    calm.stop()

    # With --preempt it takes over at the first advert it hears; pycarp steps down.
    eager = start_ucarp(lab, "h1", workdir=tmp_path, preempt=True, tag="-eager")
    wait_state(pycarp, "BACKUP", SETTLE + 1)
    wait_holders(lab, ["h1"], SETTLE)
    assert states(eager)[-1] == "MASTER"
    assert states(pycarp) == ["BACKUP", "MASTER", "BACKUP"]
    assert_steady(lab, [eager, pycarp], holder="h1", seconds=2.0)


def test_pycarp_master_ucarp_backup_takeover_preempt_and_bow_out(
    lab: Lab, tmp_path: pathlib.Path
) -> None:
    pycarp = start_pycarp(lab, "h1", pycarp_args(lab, "h1"), workdir=tmp_path)
    wait_state(pycarp, "MASTER", STARTUP)
    wait_holders(lab, ["h1"], SETTLE)

    ucarp = start_ucarp(lab, "h2", workdir=tmp_path, advskew=WORSE)
    wait_state(ucarp, "BACKUP", SETTLE)
    assert_steady(lab, [ucarp, pycarp], holder="h1")

    pycarp.kill()  # its address stays on h1 until it starts again
    wait_state(ucarp, "MASTER", TAKEOVER)
    wait_holders(lab, ["h1", "h2"], SETTLE)

    # Back with --preempt and the better advskew: it removes its stale address at start-up,
    # then takes over at the first (slower) advert it hears; ucarp's down script runs.
    args = pycarp_args(lab, "h1", extra=["--preempt"])
    back = start_pycarp(lab, "h1", args, workdir=tmp_path, tag="-back")
    wait_state(back, "MASTER", SETTLE + 1)
    wait_state(ucarp, "BACKUP", SETTLE)
    wait_holders(lab, ["h1"], SETTLE)
    assert states(back) == ["BACKUP", "MASTER"]
    assert back.events("state_changed")[-1]["cause"] == "preempt", back.state_changes()
    assert "preempt" in back.state_changes()[-1][3]  # the reason an operator reads says so

    # SIGTERM: pycarp's bow-out advert (advbase 255) makes ucarp take over at once instead
    # of after its master-down interval (3 s); ucarp may read the advert a second late.
    with AdvertCapture(lab, tmp_path / "bow-out.pcap") as capture:
        terminated = time.monotonic()
        back.signal(signal.SIGTERM)
        took = wait_state(ucarp, "MASTER", TAKEOVER)
        wait_holders(lab, ["h2"], SETTLE)
        time.sleep(0.3)
        adverts = capture.adverts()
    assert back.process.wait(timeout=5) == 0
    h1, h2 = str(lab.ipv4("h1").ip), str(lab.ipv4("h2").ip)
    bow_outs = [
        a for a in adverts if a.source == h1 and (a.advert.advbase, a.advert.advskew) == (255, 255)
    ]
    assert len(bow_outs) == 1
    bowed = bow_outs[0].timestamp
    first_ucarp = next(a.timestamp for a in adverts if a.source == h2 and a.timestamp > bowed)
    gap = first_ucarp - bowed
    print(f"bow-out -> ucarp's first advert {gap:.3f} s; SIGTERM -> ucarp MASTER {took:.3f} s")
    assert gap < 2.2, f"ucarp took {gap:.3f} s after the bow-out (master-down would be 3.4 s)"
    assert time.monotonic() - terminated < TAKEOVER
