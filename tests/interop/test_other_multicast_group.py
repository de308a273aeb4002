"""``-m``/``--mcast GROUP`` in a live lab: pycarp and ucarp advertise to another group and hear
each other there (issue 10, item 5).

Before the fix pycarp sent to the configured group but joined only 224.0.0.18, so it never
heard a peer: a backup pycarp became a second master. The group is link-scope (224.0.0.0/24,
never forwarded, flooded by the lab's bridge without any snooping state).
"""

from __future__ import annotations

import pathlib

import pytest

from pycarp.lab import Lab
from pycarp.lab.daemons import Daemon, pycarp_args, start_pycarp, start_ucarp

from .support import STARTUP, assert_steady, current_state, wait_converged

GROUP = "224.0.0.218"


def start(lab: Lab, kind: str, node: str, advskew: int, workdir: pathlib.Path) -> Daemon:
    if kind == "ucarp":
        # ucarp 1.5.2 lists -m in --help but its getopt string lacks it ("invalid option"):
        # only the long form works.
        extra = [f"--mcast={GROUP}"]
        return start_ucarp(lab, node, workdir=workdir, advskew=advskew, extra=extra)
    args = pycarp_args(lab, node, advskew=advskew, extra=["-m", GROUP])
    return start_pycarp(lab, node, args, workdir=workdir)


@pytest.mark.parametrize(
    "kinds",
    [("pycarp", "pycarp"), ("ucarp", "pycarp"), ("pycarp", "ucarp")],
    ids=["pycarp-pycarp", "ucarp-master-pycarp-backup", "pycarp-master-ucarp-backup"],
)
def test_a_group_on_another_multicast_group_has_one_master(
    lab: Lab, tmp_path: pathlib.Path, kinds: tuple[str, str]
) -> None:
    master = start(lab, kinds[0], "h1", 0, tmp_path)
    backup = start(lab, kinds[1], "h2", 100, tmp_path)
    assert wait_converged(lab, [master, backup], timeout=STARTUP + 3) == "h1"
    assert current_state(backup) == "BACKUP"
    assert_steady(lab, [master, backup], holder="h1")
