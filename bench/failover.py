"""Failover after a master host crashes: pycarp against ucarp and keepalived, paired runs.

For each run and each implementation a fresh lab gets two hosts and a client: h1 becomes
master of 198.51.100.100 (advskew 0 / VRRP priority 250), then h2 joins as backup (advskew
100 / priority 156, the same master-down timer), the client pings the address every 10 ms,
and at a random point of the advertisement cycle h1 "crashes": its daemon is frozen and
killed with SIGKILL (the whole process tree) and, a few milliseconds later, its cable is
pulled, so the address it leaves behind stops answering. Three figures per run:

* failover gap: h1's last advertisement to h2's first, on the bridge (kernel timestamps);
  the protocol says it should equal the backup's master-down timer;
* kill -> address: from the kill to the address appearing on h2 (``ip monitor``);
* client outage: the longest silence between two ping replies (last before, first after).

Implementations run in turn within each run (pycarp, ucarp, keepalived 1 s, keepalived
0.1 s, pycarp, ...), so slow drifts of the machine's load hit all of them alike. pycarp and
ucarp cannot advertise faster than once a second (advbase is whole seconds, as in CARP), so
the 0.1 s row is keepalived's alone.
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

ALL_PEERS = {
    "pycarp": Peer("pycarp", 1.0),
    "ucarp": Peer("ucarp", 1.0),
    "keepalived": Peer("keepalived", 1.0),
    "keepalived-fast": Peer("keepalived", 0.1),
}


@dataclasses.dataclass(frozen=True)
class Outcome:
    gap: float
    to_address: float
    outage: float | None  # None: no reply after the crash within the ping window
    lost: int


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
    pings = PingResult.from_json(output)
    try:
        before, after = pings.longest_silence(after=killed_at)
        outage: float | None = after - before
    except ValueError:
        outage = None
    if outage is not None and pings.replies[-1] < killed_at:
        outage = None
    return Outcome(gap=gap, to_address=added - killed_at, outage=outage, lost=pings.lost)


def main() -> int:
    def extra(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--peers",
            nargs="+",
            choices=sorted(ALL_PEERS),
            default=list(ALL_PEERS),
            help="implementations to run (default: all; keepalived-fast is advert_int 0.1)",
        )
        parser.add_argument("--seed", type=int, default=1, help="seed for the crash moments")

    options = runner.parse(
        __doc__.splitlines()[0] if __doc__ else "", default_runs=9, quick_runs=2, extra=extra
    )
    chosen = [ALL_PEERS[name] for name in options.raw.peers]
    missing = [peer.kind for peer in chosen if not peer.available()]
    if missing:
        print(f"not installed: {', '.join(sorted(set(missing)))}", file=sys.stderr)
        return 2
    rng = random.Random(options.raw.seed)
    runner.header("failover after a master host crash (kill -9 + cable pulled)")
    outcomes: dict[Peer, list[Outcome]] = {peer: [] for peer in chosen}
    failures: dict[Peer, list[str]] = {peer: [] for peer in chosen}
    with tempfile.TemporaryDirectory(prefix="pycarp-bench-") as scratch:
        for run in range(1, options.runs + 1):
            for peer in chosen:
                workdir = pathlib.Path(scratch) / f"run{run}-{peer.kind}-{peer.interval:g}"
                workdir.mkdir()
                try:
                    outcome = trial(peer, workdir, rng)
                except (LabError, ValueError, subprocess.TimeoutExpired) as error:
                    failures[peer].append(str(error).splitlines()[0])
                    runner.progress(f"run {run} {peer.label}: FAILED: {error}")
                    continue
                outcomes[peer].append(outcome)
                runner.progress(
                    f"run {run} {peer.label}: gap {outcome.gap * 1000:.1f} ms, "
                    f"address after {outcome.to_address * 1000:.0f} ms, outage "
                    f"{_ms(outcome.outage)}, lost {outcome.lost}"
                )
    report(outcomes, failures)
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
            "kill -> address on backup": [o.to_address for o in found],
            "client outage": [o.outage for o in found if o.outage is not None],
            "lost pings (x 10 ms)": [o.lost * PING_INTERVAL for o in found],
        }
        for name, values in figures.items():
            rows.append(
                [
                    peer.kind,
                    f"{peer.interval:g} s",
                    f"{peer.master_down * 1000:.1f} ms",
                    name,
                    *_cells(values),
                ]
            )
        unanswered = sum(1 for o in found if o.outage is None)
        if unanswered:
            rows.append(
                [peer.kind, "", "", f"no reply after crash: {unanswered} run(s)", "", "", "", ""]
            )
    print(runner.table(rows))
    for peer, reasons in failures.items():
        for reason in reasons:
            print(f"FAILED run ({peer.label}): {reason}")
    print("pycarp and ucarp at 0.1 s: impossible (advbase is whole seconds, 1..255, as in CARP)")


def _cells(values: list[float]) -> list[str]:
    if not values:
        return ["-", "-", "-", "0"]
    return [f"{v * 1000:.1f} ms" for v in (statistics.median(values), min(values), max(values))] + [
        str(len(values))
    ]


if __name__ == "__main__":
    runner.entry(main)
