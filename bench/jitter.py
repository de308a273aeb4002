"""Advertisement jitter and false failovers of a busy pycarp, over minutes.

h1 is master of N groups (default 255, advbase 1, advskew 0) in one pycarp process pinned to
CPU 0; h2 is backup of the same groups (advskew 100), unpinned (``--backup-cpu 1`` pins it
beside the hog, as if it ran on another machine: then CPU 0 is the master's alone, to tell the
master's own cost from the two daemons' sharing one core). ``--interval`` runs them
faster: CARP with advbase 0 below a second (advskews chosen as in benchlib/peers.py, e.g.
0.05 s: 13/256 s and a backup waiting 3 x 14/256 s), or VRRPv3 with ``--protocol vrrp3``
(priorities 250 / 156). ``--baseline SRC`` adds, in each run, the same trial with pycarp from
another source tree (e.g. the commit before a change). Meanwhile a CPU hog (a
bounded busy loop) saturates CPU 1, and the 255 groups in one process keep Python's garbage
collector busy: each advertisement allocates (events, actions, payloads), so collections run
all the time, including the occasional full one over every object of the process.

From the bridge capture, for every group, the time between consecutive advertisements of h1
is compared with the nominal interval: p50 / p99 / max of the deviation, over all
groups, and the mean interval (a schedule armed from "now" drifts by each wake-up's
lateness). A false failover is any state change after start-up (h2 leaving BACKUP, h1
leaving MASTER) or any advertisement from h2. Targets: p99 below 20 ms and no false failover.

Both daemons log their garbage collections (``benchlib/gcwatch``), so the report says how
many collections of each generation h1 ran and whether one preceded the worst advert.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import dataclasses
import itertools
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time
import typing

from benchlib import gclog, runner, steal
from benchlib.beacons import Beacon, BridgeCapture
from benchlib.groups import changes, plan, wait_all, write_groups
from benchlib.peers import Peer
from benchlib.procstat import cpu
from pycarp.lab import Lab, LabError
from pycarp.lab.daemons import Daemon, start_pycarp
from pycarp.lab.namespaces import end_child
from pycarp.lab.naming import BRIDGE

HOG = (
    "import sys, time\n"
    "end = time.monotonic() + float(sys.argv[1])\n"
    "while time.monotonic() < end:\n"
    "    pass\n"
)
DAEMON_CPU, HOG_CPU = 0, 1
STEAL_WINDOW = 0.25  # seconds: about the backup's master-down at a 0.05 s interval


@dataclasses.dataclass(frozen=True)
class Outcome:
    deviations: list[float]  # |interval - nominal| for every pair of consecutive adverts
    signed_mean: float  # mean of interval - nominal (drift of the schedule)
    missing: int  # intervals longer than 1.5 nominal (an advert not sent or not seen)
    false_failovers: list[str]
    master_cpu_percent: float  # h1's pycarp, % of one core over the run
    seconds: float
    collections: list[gclog.Collection]  # h1's pycarp, during the run
    worst_at: float  # wall time of the advert that deviated most
    steal: steal.StealSampler  # the hypervisor's steal, sampled over the run
    failover_walls: list[float]  # wall time of each false failover's state change


@contextlib.contextmanager
def pinned(cpus: set[int]) -> typing.Iterator[None]:
    """Pin this process while the body starts children: they inherit the affinity."""
    previous = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, previous)


def trial(
    peer: Peer,
    groups: int,
    seconds: float,
    hog: bool,
    workdir: pathlib.Path,
    *,
    backup_cpu: int | None = None,
) -> Outcome:
    layout = plan(groups, 1)
    nominal = peer.advert_interval
    with (
        Lab.create(hosts=2) as lab,
        BridgeCapture(lab, BRIDGE, workdir / "wire.pcap") as capture,
    ):
        for node, leads in (("h1", True), ("h2", False)):
            timers = peer.timing_fields(master=leads)
            write_groups(lab, node, layout, 0, workdir / f"{node}.toml", timers=timers)
        gc_dir = workdir / "gc"
        gc_dir.mkdir()
        with pinned({DAEMON_CPU}), gclog.logged(gc_dir):
            master = start_pycarp(
                lab,
                "h1",
                ["--config", str(workdir / "h1.toml")],
                workdir=workdir,
                program=peer.program(),
            )
        wait_all(master, "MASTER", layout, 60)
        backup_cpus = set(os.sched_getaffinity(0)) if backup_cpu is None else {backup_cpu}
        with pinned(backup_cpus), gclog.logged(gc_dir):
            backup = start_pycarp(
                lab,
                "h2",
                ["--config", str(workdir / "h2.toml")],
                workdir=workdir,
                program=peer.program(),
            )
        wait_all(backup, "BACKUP", layout, 60)
        time.sleep(2.0)
        settled = {d.node: len(changes(d)) for d in (master, backup)}
        hog_process = None
        if hog:
            hog_process = lab.popen(
                "h2",
                ["taskset", "-c", str(HOG_CPU), sys.executable, "-c", HOG, f"{seconds + 5:.0f}"],
            )
        began_wall, began = time.time(), time.monotonic()
        cpu_before = cpu(master.pid)
        with steal.StealSampler(limit=seconds + 10) as stolen:
            for _ in range(int(seconds) + 1):  # bounded: one look a second
                if time.monotonic() - began >= seconds:
                    break
                _check_alive(master, backup)
                time.sleep(min(1.0, max(0.0, seconds - (time.monotonic() - began))))
        elapsed = time.monotonic() - began
        cpu_after = cpu(master.pid)
        ended_wall = time.time()
        if hog_process is not None:
            end_child(hog_process)
        _check_alive(master, backup)
        time.sleep(1.0)
        # Read the state changes before the lab's teardown makes both daemons bow out.
        false = [
            f"{daemon.node}: {c.vhid}@{c.interface} {c.old} -> {c.new} ({c.reason})"
            for daemon in (master, backup)
            for c in changes(daemon)[settled[daemon.node] :]
        ]
        failover_walls = [
            float(e["wall"])
            for daemon in (master, backup)
            for e in daemon.events("state_changed")[settled[daemon.node] :]
        ]
        capture.stop()
        beacons = capture.beacons()
        h1, h2 = str(lab.ipv4("h1").ip), str(lab.ipv4("h2").ip)

    from_backup = [b for b in beacons if b.source == h2 and not b.leaving]
    if from_backup:
        groups_heard = sorted({b.group for b in from_backup})
        false.append(f"h2 advertised for {len(groups_heard)} group(s): {groups_heard[:10]}")
    stamped = _intervals(beacons, h1, began_wall, ended_wall)
    intervals = [gap for _when, gap in stamped]
    worst_at = max(stamped, key=lambda pair: abs(pair[1] - nominal))[0] if stamped else 0.0
    collections = [
        c
        for c in gclog.collections_of(gc_dir, master.pid)
        if began_wall <= c.timestamp <= ended_wall
    ]
    return Outcome(
        deviations=[abs(i - nominal) for i in intervals],
        signed_mean=statistics.fmean(intervals) - nominal if intervals else 0.0,
        missing=sum(1 for i in intervals if i > 1.5 * nominal),
        false_failovers=false,
        master_cpu_percent=100 * (cpu_after.run_seconds - cpu_before.run_seconds) / elapsed,
        seconds=elapsed,
        collections=collections,
        worst_at=worst_at,
        steal=stolen,
        failover_walls=failover_walls,
    )


def _check_alive(*daemons: Daemon) -> None:
    for daemon in daemons:
        if not daemon.alive():
            raise LabError(f"pycarp on {daemon.node} exited:\n{daemon.log()[-1500:]}")


def _intervals(
    beacons: list[Beacon], source: str, start: float, end: float
) -> list[tuple[float, float]]:
    """(time, gap since the group's previous advert) for each advert of ``source`` in range."""
    times: dict[int, list[float]] = collections.defaultdict(list)
    for beacon in beacons:
        if beacon.source == source and not beacon.leaving and start <= beacon.timestamp <= end:
            times[beacon.group].append(beacon.timestamp)
    gaps: list[tuple[float, float]] = []
    for stamps in times.values():
        stamps.sort()
        gaps += [(b, b - a) for a, b in itertools.pairwise(stamps)]
    return gaps


def main() -> int:
    def extra(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--minutes", type=float, default=None, help="length of a run (default 10; 1 --quick)"
        )
        parser.add_argument("--groups", type=int, default=255, help="groups (default 255)")
        parser.add_argument("--no-hog", action="store_true", help="leave CPU 1 alone (a baseline)")
        parser.add_argument(
            "--interval",
            type=float,
            default=1.0,
            metavar="SECONDS",
            help="advertisement interval (default 1; below 1 s CARP uses advbase 0)",
        )
        parser.add_argument(
            "--protocol", choices=("carp", "vrrp3"), default="carp", help="pycarp's mode"
        )
        parser.add_argument(
            "--backup-cpu",
            type=int,
            choices=(DAEMON_CPU, HOG_CPU),
            default=None,
            help="pin h2's pycarp to this CPU (default: unpinned)",
        )
        parser.add_argument(
            "--baseline",
            metavar="SRC",
            default="",
            help="also run pycarp from this source tree (its src directory) in each run",
        )

    options = runner.parse(
        __doc__.splitlines()[0] if __doc__ else "", default_runs=1, quick_runs=1, extra=extra
    )
    args = options.raw
    minutes = args.minutes if args.minutes is not None else (1.0 if options.quick else 10.0)
    if not 1 <= args.groups <= 255:
        print("--groups must be 1..255", file=sys.stderr)
        return 2
    if (os.cpu_count() or 1) < 2:
        print("needs two CPUs (the daemon on one, the hog on the other)", file=sys.stderr)
        return 2
    hog = not args.no_hog
    peers = [Peer("pycarp", args.interval, protocol=args.protocol)]
    if args.baseline:
        baseline = str(pathlib.Path(args.baseline).resolve())
        peers.append(Peer("pycarp", args.interval, protocol=args.protocol, baseline=baseline))
    runner.header(
        f"jitter: {args.groups} master groups, {minutes:g} min, "
        f"{'CPU hog on CPU 1' if hog else 'no hog'}, {peers[0].label}"
        + ("" if args.backup_cpu is None else f", h2 pinned to CPU {args.backup_cpu}")
    )
    for peer in peers:
        reason = peer.unavailable()
        if reason:
            print(f"{peer.label}: cannot run: {reason}")
            return 2
    found = 0
    with tempfile.TemporaryDirectory(prefix="pycarp-bench-") as scratch:
        for run in range(1, options.runs + 1):
            for index, peer in enumerate(peers):
                workdir = pathlib.Path(scratch) / f"run{run}-{index}"
                workdir.mkdir()
                try:
                    outcome = trial(
                        peer, args.groups, minutes * 60, hog, workdir, backup_cpu=args.backup_cpu
                    )
                except (LabError, subprocess.TimeoutExpired) as error:
                    runner.progress(f"run {run} {peer.label}: FAILED: {error}")
                    continue
                found += 1
                report(run, peer, outcome)
    runner.footer()
    return 0 if found else 1


def report(run: int, peer: Peer, outcome: Outcome) -> None:
    values = outcome.deviations
    nominal = peer.advert_interval
    print(f"-- run {run}, {peer.label}: {outcome.seconds:.0f} s, {len(values)} intervals")
    if values:
        print(
            f"deviation from the {nominal * 1000:g} ms interval: "
            f"p50 {runner.percentile(values, 0.50) * 1000:.2f} ms, "
            f"p99 {runner.percentile(values, 0.99) * 1000:.2f} ms, "
            f"max {max(values) * 1000:.2f} ms; mean interval "
            f"{(nominal + outcome.signed_mean) * 1000:.3f} ms; "
            f"intervals > 1.5 x nominal: {outcome.missing}"
        )
    print(f"h1 pycarp CPU: {outcome.master_cpu_percent:.2f} % of one core")
    for generation in (0, 1, 2):
        pauses = [c.milliseconds for c in outcome.collections if c.generation == generation]
        longest = f", longest {max(pauses):.2f} ms" if pauses else ""
        print(f"h1 pycarp garbage collections, generation {generation}: {len(pauses)}{longest}")
    near = [
        c for c in outcome.collections if outcome.worst_at - 0.5 <= c.timestamp <= outcome.worst_at
    ]
    print(
        "collections in the 0.5 s before the worst advert: "
        + (", ".join(f"gen {c.generation} {c.milliseconds:.2f} ms" for c in near) or "none")
    )
    stolen = outcome.steal
    end = stolen.times[-1] if stolen.times else 0.0
    start = stolen.times[0] if stolen.times else 0.0
    lost, lost_cpu, lost_at = stolen.worst_window(STEAL_WINDOW)
    print(
        f"stolen by the hypervisor: {steal.describe(stolen.total(start, end)) or 'not sampled'}; "
        f"worst {STEAL_WINDOW:g} s: {lost * 1000:.0f} ms of CPU {lost_cpu}"
        + (f" ({lost_at - start:.1f} s into the run)" if lost else "")
        + "; in the 0.5 s before the worst advert: "
        + (steal.describe(stolen.total(outcome.worst_at - 0.5, outcome.worst_at)) or "-")
    )
    for at in outcome.failover_walls[:10]:
        print(
            f"  false failover at {at - start:.1f} s: stolen in the {STEAL_WINDOW:g} s before: "
            + (steal.describe(stolen.total(at - STEAL_WINDOW, at)) or "-")
        )
    found = outcome.false_failovers
    per_node = {
        node: sum(1 for line in found if line.startswith(f"{node}:")) for node in ("h1", "h2")
    }
    print(f"false failovers: {len(found)} (state changes h1 {per_node['h1']}, h2 {per_node['h2']})")
    for line in [*found[:10], *[line for line in found if line.startswith("h2")][:10]]:
        print(f"  {line}")


if __name__ == "__main__":
    runner.entry(main)
