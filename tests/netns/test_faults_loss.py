"""Random packet loss on one host's link for a minute, 20 % and 50 %, on the real kernel.

Three hosts: h1 is the rightful master (advskew 0), h2 and h3 back it up (advskew 100, 200).
Each test runs two labs side by side for the same minute, so both placements cost one minute:
loss on the master's link (every backup misses some of its adverts, and the master misses
some of theirs) and loss on a backup's link (only h2 is affected). Loss is nftables on the
switch, independent per frame and per receiver (``Lab.set_loss``).

Why the rightful master can never leave MASTER here: a master steps down only for an advert
that is faster than its own (or equal and ranked higher), and every backup is slower. A backup
that misses three adverts in a row does take over (a false takeover, expected now and then
under independent loss); pycarp's reassert (docs/behaviour.md, "Two additions") answers its
first advert at once, so the false master hears the rightful one and steps down again.

The figures (state changes, takeover durations, recovery) are printed; run with ``-s``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import pathlib
import time

import pytest

from pycarp.lab import Lab

from .faults import (
    SKEWS,
    STARTUP,
    VIRTUAL_V4,
    AddressWatch,
    Group,
    StateChange,
    master_down,
    master_episodes,
    state_changes,
)

LOSS_SECONDS = 60.0
BACKUPS = ("h2", "h3")
RECOVERY = 3.0  # "a few intervals" at advbase 1: a false master steps down at the next advert

# 20 %: a backup takes over falsely when it misses three adverts in a row: docs/behaviour.md
# and the simulator say ~0.4 times per backup per minute; the lab measured up to ~0.8 (bursts
# of 2-3 in one minute happen). Six or more in a minute at 0.8 has a Poisson probability below
# 2e-4: five takeovers (ten state changes) is the limit.
LIGHT_LOSS_MAX_CHANGES = 10
# A false takeover ends when the false master hears the rightful one: at once if the reassert
# gets through both ways (64 % at 20 % loss), else at one of the master's next adverts. Four
# seconds means the reassert and four adverts in a row were all lost: under 1e-4.
LIGHT_LOSS_MAX_TAKEOVER = 4.0


@dataclasses.dataclass(frozen=True)
class LossOutcome:
    """What happened in one lab from the start of the loss until it had one master again."""

    percent: int
    lossy: str
    changes: dict[str, list[StateChange]]  # per host, since the loss began
    takeovers: dict[str, list[float]]  # per host: how long each term as MASTER lasted
    master_address_events: list[str]  # the kernel's add/delete events on h1
    recovery: float  # seconds from the end of the loss to one master

    @property
    def placement(self) -> str:
        return (
            f"{self.percent}% loss on {'the master' if self.lossy == 'h1' else 'a backup'}'s link"
        )

    def figures(self) -> str:
        parts = [f"{self.placement} ({self.lossy}), {LOSS_SECONDS:g} s:"]
        for node in BACKUPS:
            durations = ", ".join(f"{d:.2f}" for d in self.takeovers[node]) or "-"
            changes = len(self.changes[node])
            parts.append(f"{node} {changes} state changes, takeovers lasting [{durations}] s;")
        parts.append(f"h1 {len(self.changes['h1'])} state changes;")
        parts.append(f"one master {self.recovery:.2f} s after the loss ended")
        return " ".join(parts)

    def history(self) -> str:
        return "\n".join(
            f"{node}: " + ", ".join(f"{c.old}->{c.new} ({c.reason})" for c in changes)
            for node, changes in self.changes.items()
        )


@dataclasses.dataclass
class LossRun:
    """One lab under loss while it runs: where the loss is, the group, what to compare with."""

    lossy: str
    lab: Lab
    group: Group
    watch: AddressWatch | None = None
    seen_before: dict[str, int] = dataclasses.field(default_factory=dict)

    def outcome(self, percent: int, recovery: float) -> LossOutcome:
        """Everything the tests judge, read while the daemons still run."""
        changes = {
            node: state_changes(self.group[node])[self.seen_before[node] :]
            for node in self.lab.hosts
        }
        takeovers = {}
        for node in self.lab.hosts:
            terms = sum(1 for change in changes[node] if change.new == "MASTER")
            takeovers[node] = master_episodes(self.group[node])[-terms:] if terms else []
        assert self.watch is not None
        return LossOutcome(
            percent, self.lossy, changes, takeovers, self.watch.events(VIRTUAL_V4), recovery
        )


def run_loss(percent: int, workdir: pathlib.Path) -> list[LossOutcome]:
    """Both placements side by side for LOSS_SECONDS, until each lab has one master again."""
    outcomes = []
    with contextlib.ExitStack() as stack:
        runs = []
        for lossy in ("h1", "h2"):
            lab = stack.enter_context(Lab.create(hosts=3))
            directory = workdir / f"loss-on-{lossy}"
            directory.mkdir()
            group = Group(lab, directory)
            group.start("h1")  # alone first: h1 must be master whatever the start-up order
            runs.append(LossRun(lossy, lab, group))
        for run in runs:
            run.group.wait_converged("h1", STARTUP)
            run.group.start_all(BACKUPS)
        for run in runs:
            run.group.wait_started(BACKUPS)
            run.watch = AddressWatch(run.lab, "h1", run.group.workdir / "h1-addresses.log")
            stack.callback(run.watch.stop)
        for run in runs:
            run.seen_before = {node: len(state_changes(run.group[node])) for node in run.lab.hosts}
            run.lab.set_loss(run.lossy, percent)
        deadline = time.monotonic() + LOSS_SECONDS
        while time.monotonic() < deadline:
            for run in runs:
                run.group.assert_alive()
            time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
        for run in runs:
            run.lab.clear_loss(run.lossy)
        cleared = time.monotonic()
        for run in runs:
            # h1 by name: the rightful master must still be the master (see the docstring).
            run.group.wait_converged("h1", RECOVERY)
            outcomes.append(run.outcome(percent, time.monotonic() - cleared))
            print(outcomes[-1].figures())
    return outcomes


def assert_master_never_moved(outcome: LossOutcome) -> None:
    """h1 logged no state change and the kernel never removed (or re-added) its address."""
    assert outcome.changes["h1"] == [], f"{outcome.placement}: h1 moved\n{outcome.history()}"
    assert outcome.master_address_events == [], (
        f"{outcome.placement}: h1's address changed: {outcome.master_address_events}"
    )


@pytest.mark.slow
def test_20_percent_loss_does_not_flap(root: None, tmp_path: pathlib.Path) -> None:
    """No flapping at 20 %, defined as: the rightful master never leaves MASTER and its
    address never leaves its interface; each backup takes over falsely at most
    LIGHT_LOSS_MAX_CHANGES / 2 times in the minute, each time for less than
    LIGHT_LOSS_MAX_TAKEOVER; one master within RECOVERY of the loss ending.
    """
    for outcome in run_loss(20, tmp_path):
        assert_master_never_moved(outcome)
        for node in BACKUPS:
            assert len(outcome.changes[node]) <= LIGHT_LOSS_MAX_CHANGES, outcome.history()
            assert all(d < LIGHT_LOSS_MAX_TAKEOVER for d in outcome.takeovers[node]), (
                f"{outcome.placement}: {node}'s false takeovers lasted {outcome.takeovers[node]}"
            )


@pytest.mark.slow
def test_50_percent_loss_flaps_boundedly(root: None, tmp_path: pathlib.Path) -> None:
    """Bounded flapping at 50 %: the rightful master still never moves (nothing faster can
    be heard), and a backup changes state at most twice per master-down interval of the loss
    (it can only take over after a full master-down interval of silence as BACKUP, and leaves
    MASTER once per takeover). One master within RECOVERY of the loss ending.
    """
    for outcome in run_loss(50, tmp_path):
        assert_master_never_moved(outcome)
        for node in BACKUPS:
            # +1: the listening that led to the first takeover began before the loss did.
            takeovers = math.floor((LOSS_SECONDS + RECOVERY) / master_down(SKEWS[node])) + 1
            changes = len(outcome.changes[node])
            assert changes <= 2 * takeovers, f"{node}: {changes}\n{outcome.history()}"
