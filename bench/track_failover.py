"""Failover after a service dies (its host stays up): pycarp tracks vs keepalived vrrp_script.

For each run, each mode and each implementation a fresh lab gets two hosts and a client; each
host runs a web server (``python3 -m http.server``) and the daemon, whose health check GETs
the host's own page (the same check program for both: benchlib/tracked.py), every
``--interval`` s with ``--fall`` / ``--rise``. Whole seconds: keepalived 2.2's vrrp_script
reads ``interval`` and ``timeout`` as integers ("invalid number '0.5'", then 1 s), so a
fractional interval would compare two different settings. h1 is master (advskew 0 /
priority 250), h2 backup (100 / 156). At a random point of the check cycle h1's web server
is killed (by PID), and two figures are taken from the kill:

* kill -> address on h2: the address appearing on h2 (``ip monitor``, microsecond stamps);
* kill -> first answer: the client's first successful GET of the virtual address (h2's page),
  asking every 10 ms with a 0.1 s timeout per request.

Modes: ``fault`` (pycarp ``weight = "fault"``; keepalived a vrrp_script without weight: its
FAULT state) and ``weight`` (pycarp ``weight = 200``; keepalived ``weight -200``: the master's
priority drops below the backup's, whose preemption takes over). The protocol's expectation
is ``fall x interval`` (+ up to one interval for the phase of the kill) plus, for fault, the
backup's skew after a bow-out / priority-0 advert. For weight the two protocols differ: a CARP
backup with preempt takes over as soon as it hears the demoted master's next advert, a VRRP
backup only ignores that advert (RFC 5798 6.4.2) and waits for its master-down timer (3.4 s).

pycarp and keepalived run in turn within each run, so slow drifts of the load hit both alike;
they never share a group (CARP and VRRP do not interoperate).
"""

from __future__ import annotations

import argparse
import dataclasses
import pathlib
import random
import statistics
import subprocess
import tempfile
import time

from benchlib import runner, tracked
from benchlib.addrwatch import AddressWatch
from benchlib.trial import holds, wait_state
from pycarp.lab import Lab, LabError
from pycarp.lab.daemons import wait_for
from pycarp.lab.naming import CLIENT
from pycarp.lab.services import first_answer, kill_web, start_web

VIRTUAL = "198.51.100.100"
WEIGHT = 200  # 0 + 200 > 100 (pycarp); 250 - 200 < 156 (keepalived)
STARTUP_SLACK = 10.0  # on top of the 3.4 s master-down timer, for a loaded machine
KINDS = ("pycarp", "keepalived")
MODES = ("fault", "weight")


@dataclasses.dataclass(frozen=True)
class Setting:
    interval: float
    timeout: float
    fall: int
    rise: int

    def expected(self) -> float:
        """Worst case the protocol allows: fall checks, the kill's phase, one advert (1 s)."""
        return self.fall * self.interval + self.interval + 1.0


@dataclasses.dataclass(frozen=True)
class Outcome:
    to_address: float
    to_answer: float


def trial(
    kind: str, mode: str, setting: Setting, workdir: pathlib.Path, rng: random.Random
) -> Outcome:
    start = tracked.start_pycarp_tracked if kind == "pycarp" else tracked.start_keepalived_tracked
    weight = None if mode == "fault" else WEIGHT
    with Lab.create(hosts=2, client=True) as lab:
        servers = {node: start_web(lab, node, workdir) for node in ("h1", "h2")}
        daemons = {}
        for node in ("h1", "h2"):
            daemons[node] = start(
                lab,
                node,
                master=node == "h1",
                workdir=workdir,
                address=VIRTUAL,
                interval=setting.interval,
                timeout=setting.timeout,
                fall=setting.fall,
                rise=setting.rise,
                weight=weight,
            )
            wait_state(daemons[node], "MASTER" if node == "h1" else "BACKUP", 3.4 + STARTUP_SLACK)
        wait_for(lambda: holds(lab, "h1", VIRTUAL), STARTUP_SLACK)
        time.sleep(1.5)  # the backup has heard the master; the checks have run a few times
        if daemons["h1"].states()[-1] != "MASTER" or daemons["h2"].states()[-1] != "BACKUP":
            raise LabError(f"roles changed before the kill: {daemons['h1'].states()}")
        within = setting.expected() + STARTUP_SLACK
        with AddressWatch(lab, "h2", workdir / "h2-addresses.txt") as watch:
            time.sleep(rng.uniform(0, setting.interval))
            killed_at = kill_web(servers["h1"])
            answered_at = first_answer(lab, CLIENT, VIRTUAL, within=within, expect="h2")
            wait_for(lambda: VIRTUAL in watch.additions(), within)
            added = watch.additions()[VIRTUAL]
    return Outcome(to_address=added - killed_at, to_answer=answered_at - killed_at)


def main() -> int:
    def extra(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
        parser.add_argument("--interval", type=int, default=1, help="check interval (s)")
        parser.add_argument("--timeout", type=int, default=1, help="check timeout (s)")
        parser.add_argument("--fall", type=int, default=2)
        parser.add_argument("--rise", type=int, default=2)
        parser.add_argument("--seed", type=int, default=1, help="seed for the kill moments")

    options = runner.parse(
        __doc__.splitlines()[0] if __doc__ else "", default_runs=5, quick_runs=1, extra=extra
    )
    raw = options.raw
    setting = Setting(raw.interval, raw.timeout, raw.fall, raw.rise)
    rng = random.Random(raw.seed)
    runner.header(
        f"failover after a service dies: check every {setting.interval:g} s, timeout "
        f"{setting.timeout:g} s, fall {setting.fall}, rise {setting.rise}"
    )
    outcomes: dict[tuple[str, str], list[Outcome]] = {}
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="pycarp-bench-") as scratch:
        for run in range(1, options.runs + 1):
            for mode in raw.modes:
                for kind in KINDS:
                    workdir = pathlib.Path(scratch) / f"run{run}-{mode}-{kind}"
                    workdir.mkdir()
                    try:
                        outcome = trial(kind, mode, setting, workdir, rng)
                    except (LabError, subprocess.TimeoutExpired) as error:
                        failures.append(f"run {run} {kind} {mode}: {str(error).splitlines()[0]}")
                        runner.progress(f"run {run} {kind} {mode}: FAILED: {error}")
                        continue
                    outcomes.setdefault((kind, mode), []).append(outcome)
                    runner.progress(
                        f"run {run} {kind} {mode}: address after "
                        f"{outcome.to_address * 1000:.0f} ms, first answer after "
                        f"{outcome.to_answer * 1000:.0f} ms"
                    )
    report(outcomes, setting)
    for failure in failures:
        print(f"FAILED {failure}")
    runner.footer()
    return 0


def report(outcomes: dict[tuple[str, str], list[Outcome]], setting: Setting) -> None:
    rows = [["implementation", "mode", "figure", "median", "min", "max", "n"]]
    for (kind, mode), found in sorted(outcomes.items(), key=lambda item: item[0][::-1]):
        for name, values in (
            ("kill -> address on h2", [o.to_address for o in found]),
            ("kill -> first answer", [o.to_answer for o in found]),
        ):
            rows.append([kind, mode, name, *_cells(values)])
    print(runner.table(rows))
    print(
        f"protocol's worst case: fall x interval + interval + 1 advert = "
        f"{setting.expected() * 1000:.0f} ms"
    )


def _cells(values: list[float]) -> list[str]:
    middle, low, high = statistics.median(values), min(values), max(values)
    return [f"{v * 1000:.0f} ms" for v in (middle, low, high)] + [str(len(values))]


if __name__ == "__main__":
    runner.entry(main)
