"""A test that fails while daemons run must still leave nothing behind.

Raised inside ``with Lab.create(...)`` with pycarp masters and backups running, a hook hanging
in its own session, and a capture on the bridge: afterwards no namespace of the lab may exist
(and with the switch namespace its nftables table is gone) and no process it started may run,
checked by PID, the hook's grandchild included.
"""

from __future__ import annotations

import pathlib

import pytest

from pycarp.lab import Lab
from pycarp.lab.capture import AdvertCapture
from pycarp.lab.daemons import pycarp_args, start_pycarp, wait_for
from pycarp.lab.namespaces import list_namespaces, namespace_pids, process_alive

from .support import (
    ELECTION_TIMEOUT,
    VIPS,
    held_ips,
    ips,
    wait_for_state,
    wait_started,
    write_script,
)

HANG = """sleep 60 &
echo $! > {folder}/child.pid
wait
"""


class DeliberateFailure(RuntimeError):
    """Stands for an assertion failing in the middle of a test."""


def test_a_failure_inside_a_running_lab_leaves_no_namespace_or_process(
    root: None, tmp_path: pathlib.Path
) -> None:
    pids: list[int] = []
    lab_namespaces: list[str] = []
    hang = write_script(tmp_path / "hang.sh", HANG.format(folder=tmp_path))

    def fail_while_daemons_run() -> None:
        with Lab.create(hosts=2, client=True) as lab:
            lab_namespaces.extend(lab.namespace(node) for node in (*lab.nodes, "sw"))
            capture = AdvertCapture(lab, tmp_path / "adverts.pcap")
            daemons = [
                wait_started(
                    start_pycarp(
                        lab,
                        node,
                        pycarp_args(
                            lab,
                            node,
                            addresses=VIPS,
                            advskew=skew,
                            extra=["--upscript", str(hang), "--address-mode", "native"],
                        ),
                        workdir=tmp_path,
                    )
                )
                for node, skew in (("h1", 0), ("h2", 100))
            ]
            wait_for_state(daemons[0], "MASTER", timeout=ELECTION_TIMEOUT)
            child = tmp_path / "child.pid"
            wait_for(lambda: child.exists() and child.read_text().endswith("\n"), 5.0)
            wait_for(lambda: held_ips(lab, "h1") == ips(VIPS), 2.0)
            pids.extend(daemon.pid for daemon in daemons)
            pids.append(int(child.read_text()))
            pids.extend(pid for ns in lab_namespaces for pid in namespace_pids(ns))
            assert all(process_alive(pid) for pid in pids)
            del capture  # never stopped: the teardown must end tcpdump too
            raise DeliberateFailure("boom")

    with pytest.raises(DeliberateFailure, match="boom"):
        fail_while_daemons_run()
    # Other test runs build labs at the same time: look at this lab's namespaces only.
    assert len(lab_namespaces) == 4
    assert not set(lab_namespaces) & set(list_namespaces())
    left = [pid for pid in pids if process_alive(pid)]
    assert left == [], f"still running after the teardown: {left}"
    assert len(pids) >= 5  # two daemons, the hook's child, tcpdump, the hook shell at least
