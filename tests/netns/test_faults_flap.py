"""A cable pulled and plugged back every second for 30 seconds, on the real kernel.

Each second one action: cut a link, or heal the link cut the second before. The victims
alternate between whoever is master at that moment and a backup (h2 and h3 in turn when h1 is
master), so the group is hit while it is still recovering from the previous cut. Carrier
loss sends a host's group to INIT (addresses released) and back to BACKUP when the cable
returns; nobody gets a bow-out, so a takeover waits for a full master-down interval.
"""

from __future__ import annotations

import collections
import math
import pathlib
import time

import pytest

from pycarp.lab import Lab

from .faults import (
    STEADY,
    Group,
    master_down,
    state_changes,
)

FLAP_SECONDS = 30  # one cut or heal per second: 15 cuts in all


def victim_for(cut_number: int, group: Group, hosts: tuple[str, ...]) -> str:
    """Even cuts hit the current master (h1 if there is none), odd ones a backup in turn."""
    masters = group.masters()
    if cut_number % 2 == 0:
        return masters[0] if masters else hosts[0]
    others = [node for node in hosts if node not in masters]
    return others[(cut_number // 2) % len(others)]


@pytest.mark.slow
def test_link_flapping_every_second_converges_to_one_master(
    root: None, tmp_path: pathlib.Path
) -> None:
    """No crash; state changes per host bounded; one master with the address at the end.

    The bound per host: a cut and its heal cost two changes (to INIT, back to BACKUP); beyond
    those a host can only become MASTER after a full master-down interval as BACKUP, and leaves
    it once for each such entry, so it adds two changes per master-down interval at most.
    """
    with Lab.create(hosts=3) as lab:
        group = Group(lab, tmp_path)
        group.elect("h1", lab.hosts[1:])
        before = {node: len(state_changes(group[node])) for node in lab.hosts}

        cuts: collections.Counter[str] = collections.Counter()
        started = time.monotonic()
        victim = ""
        for second in range(FLAP_SECONDS):
            if second % 2 == 0:
                victim = victim_for(second // 2, group, lab.hosts)
                lab.cut(victim)
                cuts[victim] += 1
            else:
                lab.heal(victim)
            group.assert_alive()
            time.sleep(max(0.0, started + second + 1 - time.monotonic()))
        lab.reset()  # every cable in (the loop ends on a heal; this makes sure of it)

        # After the last heal the slowest case is a group with no master at all: the fastest
        # backup takes over after its master-down interval.
        settle = master_down(200) + 3.0
        master = group.wait_converged(None, settle)
        group.assert_steady(master, STEADY)

        elapsed = time.monotonic() - started
        per_interval = math.floor(elapsed / master_down(0)) + 1
        counts = {node: len(state_changes(group[node])) - before[node] for node in lab.hosts}
        print(
            f"link flap {FLAP_SECONDS} s: cuts {dict(cuts)}, state changes {counts}, "
            f"master {master} at the end"
        )
        for node in lab.hosts:
            limit = 2 * cuts[node] + 2 * per_interval
            assert counts[node] <= limit, f"{node}: {counts[node]} > {limit}\n{group.report()}"
