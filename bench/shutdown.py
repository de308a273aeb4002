"""Many groups, one SIGINT: how long until pycarp exits, and is every address gone?

One lab host, no peer: one pycarp process with a TOML ``--config`` becomes MASTER of every
group (255, 1,000 and 10,000 groups on dummy interfaces ``pd0``, ``pd1``, ...; IPv4 sources
from 203.0.113.0/24, one IPv6 virtual address per group from 2001:db8::/32; see
``benchlib/dummies.py``). Once the kernel shows every virtual address (``ip -6 -o addr``), the
daemon gets SIGINT by PID. Printed per run: time from the signal to the process's exit, its exit
status, and how many virtual addresses are still on the host afterwards (must be 0), plus
the start-up phases read from the daemon's ``--events`` (start -> first event, which comes
after the config is loaded; -> last group started; -> every address present) and how many times a
master stepped down as "paused" before that (its own timer fired more than
``(dead_ratio - 1) * advbase`` late: the event loop was busy, e.g. starting other groups).
``--advbase`` sets every group's advbase (default 1, as in the issue that prompted this).
"""

from __future__ import annotations

import argparse
import dataclasses
import pathlib
import re
import signal
import subprocess
import tempfile
import time

from benchlib import dummies, runner
from pycarp.lab import Lab, LabError
from pycarp.lab.daemons import Daemon, start_pycarp, wait_for

SIZES = (255, 1000, 10_000)
CLAIM_TIMEOUT = 300.0  # start-up and claiming of 10,000 groups on a loaded 2-core machine
EXIT_TIMEOUT = 300.0
_TROUBLE = re.compile(r"Traceback|ERROR|CRITICAL")


@dataclasses.dataclass(frozen=True)
class Outcome:
    groups: int
    to_first_event: float  # launch -> first event (interpreter start + config load)
    to_started: float  # launch -> last group_started event
    to_claimed: float  # launch -> every address seen in the kernel
    paused: int  # masters that stepped down as "paused" before the SIGINT
    to_removed: float  # SIGINT -> the last address removal (address_changed event)
    to_exit: float  # SIGINT -> the process has exited
    status: int
    left: int  # virtual addresses on the host after the exit
    trouble: list[str]  # log lines with ERROR/Traceback


def trial(groups: int, advbase: int, workdir: pathlib.Path) -> Outcome:
    plan = dummies.layout(groups)
    config = dummies.write(plan, workdir / "groups.toml", advbase)
    with Lab.create(hosts=1) as lab:
        dummies.build(lab, "h1", plan)
        launched = time.time()
        started = time.monotonic()
        daemon = start_pycarp(lab, "h1", ["--config", str(config)], workdir=workdir)

        def claimed() -> bool:
            if not daemon.alive():
                raise LabError(f"pycarp exited ({daemon.process.returncode}):\n{_tail(daemon)}")
            return dummies.held(lab, "h1", plan) == groups

        wait_for(claimed, CLAIM_TIMEOUT, 1.0)
        to_claimed = time.monotonic() - started
        time.sleep(2.0)  # a couple of advert rounds as a settled master
        paused = len(_paused(daemon))
        signalled, signalled_wall = time.monotonic(), time.time()
        daemon.signal(signal.SIGINT)
        try:
            status = daemon.process.wait(timeout=EXIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            daemon.kill()
            raise LabError(f"pycarp still running {EXIT_TIMEOUT:g} s after SIGINT") from None
        to_exit = time.monotonic() - signalled
        left = dummies.held(lab, "h1", plan)
    log = daemon.log()
    events = daemon.events()
    group_starts = [e["wall"] for e in events if e["event"] == "group_started"]
    removed = [e["wall"] for e in events if e["event"] == "address_changed" and not e["added"]]
    return Outcome(
        groups=groups,
        to_first_event=events[0]["wall"] - launched if events else float("nan"),
        to_started=group_starts[-1] - launched if group_starts else float("nan"),
        to_claimed=to_claimed,
        paused=paused,
        to_removed=removed[-1] - signalled_wall if removed else float("nan"),
        to_exit=to_exit,
        status=status,
        left=left,
        trouble=[line for line in log.splitlines() if _TROUBLE.search(line)][:5],
    )


def _paused(daemon: Daemon) -> list[dict[str, object]]:
    """Masters that stepped down because their own timer fired late (the process was busy)."""
    return [
        e
        for e in daemon.events("state_changed")
        if (e["old"], e["new"]) == ("MASTER", "BACKUP") and e["reason"].startswith("paused")
    ]


def _tail(daemon: Daemon) -> str:
    return daemon.log()[-1500:]


def main() -> int:
    def extra(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--groups",
            nargs="+",
            type=int,
            default=list(SIZES),
            help="group counts to run (default: 255 1000 10000)",
        )
        parser.add_argument(
            "--advbase", type=int, default=1, help="every group's advbase (default 1)"
        )

    options = runner.parse(
        __doc__.splitlines()[0] if __doc__ else "", default_runs=3, quick_runs=1, extra=extra
    )
    sizes: list[int] = options.raw.groups
    if options.quick and options.raw.groups == list(SIZES):
        sizes = [255, 1000]
    advbase: int = options.raw.advbase
    runner.header(
        f"{', '.join(f'{n:,}' for n in sizes)} groups as master (advbase {advbase}): SIGINT"
    )
    results: dict[int, list[Outcome]] = {}
    failures = 0
    with tempfile.TemporaryDirectory(prefix="pycarp-bench-") as scratch:
        for run in range(1, options.runs + 1):
            for groups in sizes:
                workdir = pathlib.Path(scratch) / f"{groups}-{run}"
                workdir.mkdir()
                try:
                    outcome = trial(groups, advbase, workdir)
                except LabError as error:
                    failures += 1
                    runner.progress(f"{groups} groups run {run}: FAILED: {error}")
                    continue
                results.setdefault(groups, []).append(outcome)
                runner.progress(f"{groups} groups run {run}: {describe(outcome)}")
    rows = [
        [
            "groups",
            "run",
            "first event (s)",
            "started (s)",
            "claimed (s)",
            "paused",
            "SIGINT -> last removed (s)",
            "SIGINT -> exit (s)",
            "status",
            "left",
        ]
    ]
    for groups, outcomes in results.items():
        for number, outcome in enumerate(outcomes, start=1):
            rows.append(
                [
                    f"{groups:,}",
                    str(number),
                    f"{outcome.to_first_event:.1f}",
                    f"{outcome.to_started:.1f}",
                    f"{outcome.to_claimed:.1f}",
                    str(outcome.paused),
                    f"{outcome.to_removed:.2f}",
                    f"{outcome.to_exit:.2f}",
                    str(outcome.status),
                    str(outcome.left),
                ]
            )
    print("-- start-up (from launch: first event, last group started, every address present;")
    print("-- masters that stepped down as paused meanwhile)")
    print("-- and shutdown (SIGINT -> last address removal event, -> exit; exit status;")
    print("-- virtual addresses left on the host afterwards)")
    print(runner.table(rows))
    bad = 0
    for groups, outcomes in results.items():
        exits = [o.to_exit for o in outcomes]
        left = sum(o.left for o in outcomes)
        statuses = sorted({o.status for o in outcomes})
        print(
            f"{groups:,} groups: SIGINT -> exit {runner.summary(exits, 's', 1.0)}; "
            f"exit status {statuses}; addresses left in total {left}"
        )
        bad += sum(1 for o in outcomes if o.status != 0 or o.left)
        for outcome in outcomes:
            for line in outcome.trouble:
                print(f"  log: {line}")
    runner.footer()
    return 0 if results and not bad and not failures else 1


def describe(outcome: Outcome) -> str:
    return (
        f"first event {outcome.to_first_event:.1f} s, started {outcome.to_started:.1f} s, "
        f"claimed {outcome.to_claimed:.1f} s ({outcome.paused} paused step-downs); "
        f"SIGINT -> last removed {outcome.to_removed:.2f} s, -> exit {outcome.to_exit:.2f} s, "
        f"status {outcome.status}, {outcome.left} address(es) left"
    )


if __name__ == "__main__":
    runner.entry(main)
