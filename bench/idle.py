"""Idle cost of master groups: CPU (% of one core) and memory, pycarp against ucarp.

One host alone on the lab switch is master of N groups (vhid 1..N, advbase 1, one virtual
address each: 198.51.100.100-.249, then 203.0.113.1-.254). pycarp runs them all in one process
(a TOML ``--config``); ucarp needs one process per group. Once every group is MASTER and has
settled, the CPU time of the processes is read twice, a measured window apart, and their
memory once:

* CPU % of one core: run time from ``/proc/PID/task/*/schedstat`` (nanoseconds) over the
  window; ``utime + stime`` from ``/proc/PID/stat`` is shown beside it as a cross-check, but
  it counts 10 ms ticks, too coarse for a few milliseconds of work;
* memory: VmRSS summed over the processes, and PSS (shared pages split between the processes
  sharing them), which is the fair sum for many ucarp processes.

For each size the runs alternate pycarp, ucarp, pycarp, ... (ucarp for 1 and 20 groups; 255
ucarp processes with ``--ucarp-255``). ``--reference`` adds, for 1 group, an asyncio program that
only wakes once a second and sends a datagram: the floor under any asyncio daemon.
"""

from __future__ import annotations

import argparse
import dataclasses
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

from benchlib import runner
from benchlib.addressing import ipv4_virtuals
from benchlib.procstat import cpu_total, pss_kib, rss_kib
from benchlib.trial import wait_state
from pycarp.lab import HOST_INTERFACE, Lab, LabError
from pycarp.lab.daemons import Daemon, start_pycarp, start_ucarp, wait_for, write_config

FLOOR = pathlib.Path(__file__).parent / "benchlib" / "floor.py"
SETTLE = 3.0  # after the last group became MASTER: address changes and announcements done
WINDOW = 30.0
QUICK_WINDOW = 5.0
MAX_GROUPS = 255


@dataclasses.dataclass(frozen=True)
class Sample:
    groups: int
    processes: int
    cpu_percent: float  # of one core, schedstat
    ticks_percent: float  # of one core, utime + stime
    rss_kib: int
    pss_kib: int


def start_daemons(
    kind: str, lab: Lab, groups: int, workdir: pathlib.Path, window: float
) -> tuple[list[Daemon], float]:
    """All groups on h1, every one MASTER; returns the daemons and the time it took."""
    started = time.monotonic()
    if kind == "floor":
        log_path = workdir / "floor.log"
        seconds = int(window + SETTLE + 60)
        with log_path.open("wb") as log:
            process = lab.popen(
                "h1",
                [sys.executable, str(FLOOR), "--seconds", str(seconds)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return [Daemon("floor", "h1", process, log_path)], time.monotonic() - started
    source = str(lab.ipv4("h1").ip)
    addresses = ipv4_virtuals(groups)
    timeout = 3.0 + 20.0 + groups * 0.2
    if kind == "pycarp":
        config = write_config(
            workdir / "groups.toml",
            [
                {
                    "interface": HOST_INTERFACE,
                    "source": source,
                    "vhid": vhid,
                    "pass_env": "PYCARP_PASS",
                    "addresses": [f"{address}/24"],
                    "advbase": 1,
                    "advskew": 0,
                }
                for vhid, address in enumerate(addresses, start=1)
            ],
        )
        daemon = start_pycarp(lab, "h1", ["--config", str(config)], workdir=workdir)

        def all_master() -> bool:
            if not daemon.alive():
                raise LabError(f"pycarp exited:\n{daemon.log()[-1500:]}")
            last = {vhid: new for vhid, _old, new, _why in daemon.state_changes()}
            return sum(1 for state in last.values() if state == "MASTER") == groups

        wait_for(all_master, timeout, 0.1)
        return [daemon], time.monotonic() - started
    daemons = [
        start_ucarp(lab, "h1", workdir=workdir, vhid=vhid, address=address, tag=f"-{vhid}")
        for vhid, address in enumerate(addresses, start=1)
    ]
    for daemon in daemons:
        wait_state(daemon, "MASTER", max(1.0, timeout - (time.monotonic() - started)))
    return daemons, time.monotonic() - started


def trial(kind: str, groups: int, window: float, workdir: pathlib.Path) -> Sample:
    with Lab.create(hosts=1) as lab:
        daemons, _took = start_daemons(kind, lab, groups, workdir, window)
        time.sleep(SETTLE)
        pids = [daemon.pid for daemon in daemons]
        before, began = cpu_total(pids), time.monotonic()
        time.sleep(window)
        after, ended = cpu_total(pids), time.monotonic()
        dead = [daemon for daemon in daemons if not daemon.alive()]
        if dead:
            raise LabError(f"{kind} exited during the window:\n{dead[0].log()[-1500:]}")
        elapsed = ended - began
        return Sample(
            groups=groups,
            processes=len(pids),
            cpu_percent=100 * (after.run_seconds - before.run_seconds) / elapsed,
            ticks_percent=100 * (after.ticks_seconds - before.ticks_seconds) / elapsed,
            rss_kib=sum(rss_kib(pid) for pid in pids),
            pss_kib=sum(pss_kib(pid) for pid in pids),
        )


def main() -> int:
    def extra(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--groups",
            type=int,
            nargs="+",
            default=[1, 20, 255],
            help="group counts to measure (default: 1 20 255)",
        )
        parser.add_argument(
            "--window",
            type=float,
            default=None,
            help=f"measured seconds per run (default {WINDOW:g}; {QUICK_WINDOW:g} with --quick)",
        )
        parser.add_argument(
            "--reference",
            action="store_true",
            help="with 1 group, also run benchlib/floor.py: an asyncio loop that only wakes "
            "once a second and sends a datagram (the interpreter's own idle cost)",
        )
        parser.add_argument(
            "--ucarp-255",
            action="store_true",
            help="also run 255 ucarp processes (by default ucarp runs for up to 20 groups)",
        )

    options = runner.parse(
        __doc__.splitlines()[0] if __doc__ else "", default_runs=9, quick_runs=1, extra=extra
    )
    args = options.raw
    window = args.window if args.window is not None else (QUICK_WINDOW if options.quick else WINDOW)
    sizes = [size for size in args.groups if 1 <= size <= MAX_GROUPS]
    if sizes != args.groups:
        print(f"group counts must be 1..{MAX_GROUPS}", file=sys.stderr)
        return 2
    runner.header(f"idle master groups: CPU and memory ({window:g} s windows)")
    samples: dict[tuple[int, str], list[Sample]] = {}
    with tempfile.TemporaryDirectory(prefix="pycarp-bench-") as scratch:
        for size in sizes:
            kinds = ["pycarp"] + (["ucarp"] if size <= 20 or args.ucarp_255 else [])
            kinds += ["floor"] if args.reference and size == 1 else []
            for run in range(1, options.runs + 1):
                for kind in kinds:
                    workdir = pathlib.Path(scratch) / f"{size}-{kind}-{run}"
                    workdir.mkdir()
                    try:
                        sample = trial(kind, size, window, workdir)
                    except LabError as error:
                        runner.progress(f"{size} groups, {kind}, run {run}: FAILED: {error}")
                        continue
                    samples.setdefault((size, kind), []).append(sample)
                    runner.progress(
                        f"{size} groups, {kind}, run {run}: {sample.cpu_percent:.3f} % of a core, "
                        f"RSS {sample.rss_kib / 1024:.1f} MiB, PSS {sample.pss_kib / 1024:.1f} MiB"
                    )
    report(samples)
    runner.footer()
    return 0


def report(samples: dict[tuple[int, str], list[Sample]]) -> None:
    rows = [
        [
            "groups",
            "daemon",
            "procs",
            "CPU % of a core",
            "per group",
            "(utime+stime)",
            "RSS MiB",
            "RSS/group",
            "PSS MiB",
            "PSS/group",
            "n",
        ]
    ]
    for (size, kind), found in samples.items():
        cpu = [s.cpu_percent for s in found]
        rss = [s.rss_kib / 1024 for s in found]
        pss = [s.pss_kib / 1024 for s in found]
        rows.append(
            [
                str(size),
                kind,
                str(found[0].processes),
                _spread(cpu, 3),
                f"{statistics.median(cpu) / size:.4f}",
                f"{statistics.median(s.ticks_percent for s in found):.3f}",
                _spread(rss, 1),
                f"{statistics.median(rss) / size:.2f}",
                _spread(pss, 1),
                f"{statistics.median(pss) / size:.2f}",
                str(len(found)),
            ]
        )
    print(runner.table(rows))
    print("figures: median (min-max) over the runs; per group = median / groups")


def _spread(values: list[float], digits: int) -> str:
    return (
        f"{statistics.median(values):.{digits}f} "
        f"({min(values):.{digits}f}-{max(values):.{digits}f})"
    )


if __name__ == "__main__":
    runner.entry(main)
