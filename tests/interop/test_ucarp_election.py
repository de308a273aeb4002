"""Elections in mixed pycarp/ucarp groups: equal timings, and three hosts under repeated kills.

With equal advbase and advskew, ucarp keeps the master whose source address ranks lower (raw
``s_addr`` order) and pycarp applies the same rule, so two masters that find each other always
agree on which one steps down. In a three-host group every kill -9 of the master starts a new
election among the survivors; after each one exactly one live host may hold the address.
"""

from __future__ import annotations

import pathlib

import pytest

from pycarp.lab import Lab
from pycarp.lab.daemons import Daemon, pycarp_args, start_pycarp, start_ucarp

from .support import (
    SETTLE,
    STARTUP,
    TAKEOVER,
    VIRTUAL,
    assert_steady,
    converged_master,
    current_state,
    holders,
    remove_address,
    wait_converged,
    wait_holders,
    wait_state,
)

ROUNDS = 3


def start(lab: Lab, kind: str, node: str, workdir: pathlib.Path, tag: str = "") -> Daemon:
    """A group member with the default (equal) advbase 1 and advskew 0."""
    if kind == "ucarp":
        return start_ucarp(lab, node, workdir=workdir, tag=tag)
    return start_pycarp(lab, node, pycarp_args(lab, node), workdir=workdir, tag=tag)


@pytest.mark.parametrize(
    "kinds",
    [("pycarp", "ucarp"), ("ucarp", "pycarp")],
    ids=["pycarp-on-lower-address", "pycarp-on-higher-address"],
)
def test_equal_timing_converges_to_the_lower_address(
    lab: Lab, tmp_path: pathlib.Path, kinds: tuple[str, str]
) -> None:
    # Kept apart, both become master; reconnected, each hears the other's equal advert and
    # the tie-break must make the higher address (h2) step down, whichever daemon runs there.
    lab.isolate("h1", "h2")
    pairs = zip(kinds, ("h1", "h2"), strict=True)
    daemons = [start(lab, kind, node, tmp_path) for kind, node in pairs]
    for daemon in daemons:
        wait_state(daemon, "MASTER", STARTUP + 1)
    wait_holders(lab, ["h1", "h2"], SETTLE)
    lab.reconnect()
    wait_holders(lab, ["h1"], SETTLE + 1)
    assert wait_converged(lab, daemons, timeout=SETTLE) == "h1"
    assert current_state(daemons[1]) == "BACKUP"
    assert_steady(lab, daemons, holder="h1")


@pytest.mark.parametrize(
    "kinds",
    [("ucarp", "ucarp", "pycarp"), ("ucarp", "pycarp", "pycarp")],
    ids=["2-ucarp-1-pycarp", "1-ucarp-2-pycarp"],
)
def test_mixed_group_survives_repeated_master_kills(
    lab: Lab, tmp_path: pathlib.Path, kinds: tuple[str, str, str]
) -> None:
    nodes = ("h1", "h2", "h3")
    pairs = zip(kinds, nodes, strict=True)
    members = {node: start(lab, kind, node, tmp_path) for kind, node in pairs}
    master = wait_converged(lab, list(members.values()), timeout=STARTUP + 3)
    winners = [master]
    for round_number in range(1, ROUNDS + 1):
        victim = members[master]
        victim.kill()  # no clean-up, no bow-out: the survivors must notice the silence
        survivors = [daemon for daemon in members.values() if daemon.alive()]
        master = wait_converged(lab, survivors, timeout=TAKEOVER + 2)
        assert master != victim.node
        winners.append(master)
        # The dead master's address is still on its host (kill -9). ucarp never tidies up:
        # the operator does it before restarting; pycarp removes it itself at start-up.
        if victim.kind == "ucarp":
            remove_address(lab, victim.node)
        members[victim.node] = start(lab, victim.kind, victim.node, tmp_path, f"-{round_number}")
        # The restarted member joins as backup: it never preempts an equal master.
        wait_holders(lab, [master], TAKEOVER)
        assert converged_master(lab, list(members.values())) == master
    assert holders(lab, VIRTUAL) == [master]
    print(f"{'+'.join(kinds)}: masters in turn {winners}")
