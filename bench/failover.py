"""Failover after a master host crashes: pycarp (CARP, VRRPv3) against ucarp and keepalived.

For each run and each implementation a fresh lab gets two hosts and a client: h1 becomes
master of 198.51.100.100 (advskew 0 / VRRP priority 250), then h2 joins as backup (advskew
100 / priority 156, the same master-down timer), the client pings the address every 10 ms,
and at a random point of the advertisement cycle h1 "crashes": its daemon is frozen and
killed with SIGKILL (the whole process tree) and, a few milliseconds later, its cable is
pulled, so the address it leaves behind stops answering. Figures per run:

* failover gap: h1's last advertisement to h2's first, on the bridge (kernel timestamps);
  the protocol says it should equal the backup's master-down timer;
* kill -> address: from the kill to the address appearing on h2 (``ip monitor``);
* client outage: the longest silence between two ping replies (last before, first after);
* advert interval: the mean spacing of h1's advertisements before the crash, less nominal
  (a schedule armed from "now" drifts by the timer's lateness every interval).

Intervals (``--intervals``, default 1, 0.1 and 0.05 s): pycarp CARP uses advbase 0 below a
second (OpenBSD's sub-second mode: the interval is advskew/256 s, the backup waits three of its
own intervals; advskews are chosen to match VRRP's timers, see benchlib/peers.py), pycarp
VRRPv3 and keepalived use the interval itself, ucarp runs at whole seconds only. A pycarp mode
this tree does not accept yet is left out with pycarp's own error. ``--baseline SRC`` adds
pycarp run from another source tree (e.g. an export of the commit before a change), so before
and after are measured in the same runs.

Implementations run in turn within each run (for each interval: pycarp, pycarp VRRPv3,
keepalived, ucarp, baseline), so slow drifts of the machine's load hit all of them alike.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import pathlib
import random
import statistics
import subprocess
import sys
import tempfile
import time

from benchlib import peers, runner
from benchlib.addrwatch import AddressWatch
from benchlib.beacons import BridgeCapture, takeover_gap
from benchlib.peers import VIRTUAL, Peer
from benchlib.pinger import PingResult
from benchlib.procstat import kill_tree
from benchlib.trial import holds, wait_state
from pycarp.lab import Lab, LabError
from pycarp.lab.daemons import wait_for
from pycarp.lab.naming import BRIDGE

PINGER = pathlib.Path(__file__).parent / "benchlib" / "pinger.py"
PING_INTERVAL = 0.01
LEAD = 1.0  # seconds of pinging before the crash
TAIL = 2.0  # seconds of pinging after the expected takeover
STARTUP_SLACK = 10.0  # on top of the master-down timer, for a loaded machine

IMPLEMENTATIONS = ("pycarp", "pycarp-vrrp3", "keepalived", "ucarp")
INTERVALS = (1.0, 0.1, 0.05)


def peers_for(names: list[str], intervals: list[float], baseline: str) -> list[Peer]:
    """The peers to run, in the order each run takes them (ucarp at whole seconds only)."""
    chosen: list[Peer] = []
    for interval in intervals:
        for name in names:
            if name == "ucarp" and interval < 1:
                continue
            kind, _, mode = name.partition("-")
            chosen.append(Peer(kind, interval, protocol=mode or "carp"))
        if baseline:
            chosen.append(Peer("pycarp", interval, baseline=baseline))
    return chosen


@dataclasses.dataclass(frozen=True)
class Outcome:
    gap: float
    to_address: float
    outage: float | None  # None: no reply after the crash within the ping window
    lost: int
    drift: float | None  # h1's mean advert interval before the crash, less nominal


def trial(peer: Peer, workdir: pathlib.Path, rng: random.Random) -> Outcome:
    with (
        Lab.create(hosts=2, client=True) as lab,
        BridgeCapture(lab, BRIDGE, workdir / "wire.pcap") as capture,
    ):
        timeout = peer.master_down + STARTUP_SLACK
        master = peers.start(lab, "h1", peer, master=True, workdir=workdir)
        wait_state(master, "MASTER", timeout)
        wait_for(lambda: holds(lab, "h1", VIRTUAL), timeout)
        backup = peers.start(lab, "h2", peer, master=False, workdir=workdir)
        wait_state(backup, "BACKUP", timeout)
        time.sleep(max(3 * peer.interval, 1.0))  # the backup has heard the master a few times
        if peers.state(master) != "MASTER" or peers.state(backup) != "BACKUP":
            raise LabError(f"roles changed before the crash: {peers.states(master)}")

        window = LEAD + peer.interval + 1.3 * peer.master_down + TAIL
        count = math.ceil(window / PING_INTERVAL)
        with AddressWatch(lab, "h2", workdir / "h2-addresses.txt") as watch:
            pinger = lab.popen(
                "client",
                [sys.executable, str(PINGER), "--target", VIRTUAL, "--count", str(count)],
                stdout=subprocess.PIPE,
                text=True,
            )
            time.sleep(LEAD + rng.uniform(0, peer.interval))
            kill_tree(master.pid)
            killed_at = time.time()  # the daemon is dead; its cable goes a few ms later
            lab.cut("h1")
            output, _ = pinger.communicate(timeout=window + 15)
            wait_for(lambda: VIRTUAL in watch.additions(), timeout)
            added = watch.additions()[VIRTUAL]
        beacons = capture.beacons()

    h1, h2 = str(lab.ipv4("h1").ip), str(lab.ipv4("h2").ip)
    gap = takeover_gap(beacons, old=h1, new=h2, group=1, after=killed_at - 0.05)
    sent = [b.timestamp for b in beacons if b.source == h1 and b.group == 1 and not b.leaving]
    sent = [stamp for stamp in sent if stamp < killed_at]
    drift = None
    if len(sent) >= 3:  # from the second advert: the first follows the takeover, not a timer
        drift = (sent[-1] - sent[1]) / (len(sent) - 2) - peer.advert_interval
    pings = PingResult.from_json(output)
    try:
        before, after = pings.longest_silence(after=killed_at)
        outage: float | None = after - before
    except ValueError:
        outage = None
    if outage is not None and pings.replies[-1] < killed_at:
        outage = None
    return Outcome(
        gap=gap, to_address=added - killed_at, outage=outage, lost=pings.lost, drift=drift
    )


def main() -> int:
    def extra(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--peers",
            nargs="+",
            choices=IMPLEMENTATIONS,
            default=list(IMPLEMENTATIONS),
            help="implementations to run (default: all; ucarp at whole-second intervals only)",
        )
        parser.add_argument(
            "--intervals",
            nargs="+",
            type=float,
            default=list(INTERVALS),
            metavar="SECONDS",
            help="advertisement intervals (default: 1 0.1 0.05)",
        )
        parser.add_argument(
            "--baseline",
            metavar="SRC",
            default="",
            help="also run pycarp from this source tree (its src directory), e.g. the commit "
            "before a change: `git archive COMMIT src | tar -x -C DIR`, then DIR/src",
        )
        parser.add_argument("--seed", type=int, default=1, help="seed for the crash moments")

    options = runner.parse(
        __doc__.splitlines()[0] if __doc__ else "", default_runs=9, quick_runs=2, extra=extra
    )
    raw = options.raw
    wanted = peers_for(
        raw.peers, raw.intervals, str(pathlib.Path(raw.baseline).resolve()) if raw.baseline else ""
    )
    chosen: list[Peer] = []
    skipped: list[str] = []
    for peer in wanted:
        reason = peer.unavailable()
        if reason:
            skipped.append(f"{peer.label}: skipped: {reason}")
        else:
            chosen.append(peer)
    rng = random.Random(raw.seed)
    runner.header("failover after a master host crash (kill -9 + cable pulled)")
    for line in skipped:
        print(line)
    if not chosen:
        return 2
    outcomes: dict[Peer, list[Outcome]] = {peer: [] for peer in chosen}
    failures: dict[Peer, list[str]] = {peer: [] for peer in chosen}
    with tempfile.TemporaryDirectory(prefix="pycarp-bench-") as scratch:
        for run in range(1, options.runs + 1):
            for index, peer in enumerate(chosen):
                workdir = pathlib.Path(scratch) / f"run{run}-{index}"
                workdir.mkdir()
                try:
                    outcome = trial(peer, workdir, rng)
                except (LabError, ValueError, subprocess.TimeoutExpired) as error:
                    failures[peer].append(str(error).splitlines()[0])
                    runner.progress(f"run {run} {peer.label}: FAILED: {error}")
                    continue
                outcomes[peer].append(outcome)
                runner.progress(
                    f"run {run} {peer.label}: gap {outcome.gap * 1000:.1f} ms "
                    f"(timer {peer.master_down * 1000:.1f}), address after "
                    f"{outcome.to_address * 1000:.0f} ms, outage {_ms(outcome.outage)}, "
                    f"lost {outcome.lost}"
                )
    report(outcomes, failures)
    for line in skipped:
        print(line)
    runner.footer()
    return 0


def _ms(value: float | None) -> str:
    return "none (no reply after the crash)" if value is None else f"{value * 1000:.0f} ms"


def report(outcomes: dict[Peer, list[Outcome]], failures: dict[Peer, list[str]]) -> None:
    rows = [["implementation", "interval", "timer", "figure", "median", "min", "max", "n"]]
    for peer, found in outcomes.items():
        figures = {
            "failover gap": [o.gap for o in found],
            "gap - timer": [o.gap - peer.master_down for o in found],
            "advert interval - nominal": [o.drift for o in found if o.drift is not None],
            "kill -> address on backup": [o.to_address for o in found],
            "client outage": [o.outage for o in found if o.outage is not None],
            "lost pings (x 10 ms)": [o.lost * PING_INTERVAL for o in found],
        }
        for name, values in figures.items():
            rows.append(
                [
                    peer.label.rsplit(" ", 2)[0],
                    f"{peer.advert_interval * 1000:g} ms",
                    f"{peer.master_down * 1000:.1f} ms",
                    name,
                    *_cells(values),
                ]
            )
        unanswered = sum(1 for o in found if o.outage is None)
        if unanswered:
            rows.append(
                [peer.label, "", "", f"no reply after crash: {unanswered} run(s)", "", "", "", ""]
            )
    print(runner.table(rows))
    for peer, reasons in failures.items():
        for reason in reasons:
            print(f"FAILED run ({peer.label}): {reason}")


def _cells(values: list[float]) -> list[str]:
    if not values:
        return ["-", "-", "-", "0"]
    digits = 2 if max(abs(v) for v in values) < 0.01 else 1
    shown = (statistics.median(values), min(values), max(values))
    return [f"{v * 1000:.{digits}f} ms" for v in shown] + [str(len(values))]


if __name__ == "__main__":
    runner.entry(main)
