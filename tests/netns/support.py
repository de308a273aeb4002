"""Helpers for the daemon acceptance tests (``tests/netns/test_daemon_*.py`` and others).

They start real ``python -m pycarp`` processes on lab hosts (through :mod:`pycarp.lab.daemons`)
and ask the questions every scenario asks through :mod:`pycarp.lab.checks` (who is master per
the daemons' events, who holds an address per the kernel, where a client's ARP entry points,
what a daemon's status document says), adding what only these tests need: the group they
start, the protocol's intervals, how regular the adverts on the bridge are, and scripts that
record how they were called.
"""

from __future__ import annotations

import itertools
import json
import pathlib
import signal
import stat
import typing
from collections.abc import Mapping, Sequence

from pycarp.lab import Lab, checks
from pycarp.lab.capture import Advert
from pycarp.lab.checks import (
    GroupStatus,
    arping_macs,
    changes_of,
    group_statuses,
    held_ips,
    holders,
    ips,
    last_state,
    neighbour_mac,
    ping,
    status_of,
    wait_started,
)
from pycarp.lab.daemons import LAB_PASSPHRASE, Daemon, pycarp_args, start_pycarp

__all__ = [
    "arping_macs",
    "changes_of",
    "held_ips",
    "holders",
    "ips",
    "neighbour_mac",
    "ping",
    "status_of",
    "wait_started",
]

VIPS = ("198.51.100.100/24", "198.51.100.101/24")
DUAL_STACK = ("198.51.100.100/24", "2001:db8::100/64")
SKEWS = (0, 100, 200)
ADVBASE = 1.0
DEAD_RATIO = 3

# How long to wait for things that should happen "within a master-down interval": the interval
# itself plus a generous margin for a loaded 2-core machine.
ELECTION_TIMEOUT = 10.0


def master_down(advskew: int, advbase: float = ADVBASE) -> float:
    """The master-down interval of a backup with this advskew (what the kernels compute)."""
    return DEAD_RATIO * advbase + advskew / 256


def advert_interval(advskew: int, advbase: float = ADVBASE) -> float:
    return advbase + advskew / 256


def start_group(
    lab: Lab,
    workdir: pathlib.Path,
    *,
    skews: Mapping[str, int] | None = None,
    addresses: Sequence[str] = VIPS,
    vhid: int = 1,
    extra: Mapping[str, Sequence[str]] | None = None,
    passphrase: str = LAB_PASSPHRASE,
    staggered: bool = True,
) -> dict[str, Daemon]:
    """pycarp with ucarp-style flags on each host of ``skews`` (default h1..h3: 0/100/200).

    ``staggered``: each daemon has started before the next one is launched, so the first
    host (the best advskew) is master for sure. Launched together, a slow interpreter start
    on a loaded machine can give a worse host the head start, and without preemption it
    stays master, correctly, but not the one the test expects.
    """
    chosen = skews if skews is not None else dict(zip(lab.hosts, SKEWS, strict=False))
    daemons = {}
    for node, skew in chosen.items():
        args = pycarp_args(
            lab,
            node,
            vhid=vhid,
            addresses=addresses,
            advskew=skew,
            extra=(extra or {}).get(node, ()),
        )
        daemons[node] = start_pycarp(lab, node, args, workdir=workdir, passphrase=passphrase)
        if staggered:
            wait_started(daemons[node])
    return daemons


def state_of(daemon: Daemon, vhid: int = 1) -> str:
    """The state the daemon last entered for ``vhid`` (INIT before the first change)."""
    return last_state(daemon, vhid) or "INIT"


def masters(daemons: Mapping[str, Daemon], vhid: int = 1) -> list[str]:
    return checks.masters(daemons, vhid)


def wait_for_state(daemon: Daemon, state: str, *, vhid: int = 1, timeout: float) -> float:
    """Seconds until the daemon enters ``state`` for ``vhid`` (fails if the process died)."""
    return checks.wait_for_state(daemon, state, vhid=vhid, timeout=timeout)


def wait_for_stable_master(
    daemons: Mapping[str, Daemon], node: str, *, vhid: int = 1, timeout: float = ELECTION_TIMEOUT
) -> None:
    """``node`` is master and every other daemon of the group has settled in BACKUP."""
    checks.wait_for_stable_master(daemons, node, vhid=vhid, timeout=timeout)


def dump_status(daemon: Daemon, *, timeout: float = 5.0) -> dict[int, GroupStatus]:
    """SIGUSR1, as an operator without the control socket asks: the ``status`` event it
    publishes (the same document the log's status lines are written from), by vhid."""
    seen = len(daemon.events())
    daemon.signal(signal.SIGUSR1)
    event = daemon.wait_for_event("status", timeout, after=seen)
    return group_statuses(event["status"])


def advert_times(
    adverts: Sequence[Advert], source: str, vhid: int, *, start: float = 0.0, end: float = 1e12
) -> list[float]:
    """Bridge timestamps of ``source``'s regular adverts for ``vhid`` in [start, end]."""
    return [
        a.timestamp
        for a in adverts
        if a.source == source
        and a.advert.vhid == vhid
        and start <= a.timestamp <= end
        and not (a.advert.advbase == 255 and a.advert.advskew == 255)
    ]


def spacing_deviation(times: Sequence[float], expected: float) -> float:
    """The largest |gap - expected| between consecutive adverts (the jitter bound checked)."""
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert gaps, "need at least two adverts to measure their spacing"
    return max(abs(gap - expected) for gap in gaps)


def write_script(path: pathlib.Path, body: str) -> pathlib.Path:
    """An executable ``/bin/sh`` script (what an operator would give ucarp)."""
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def recording_script(path: pathlib.Path, record: pathlib.Path, *, then: str = "") -> pathlib.Path:
    """A script that appends one JSON line (argv + PYCARP_* environment) to ``record``.

    ``then`` is more shell to run afterwards (e.g. the ``ip addr add`` of a ucarp up script).
    """
    return write_script(
        path,
        f'python3 -c \'import json, os, sys; print(json.dumps({{"argv": sys.argv[1:], "env": '
        f'{{k: v for k, v in os.environ.items() if k.startswith("PYCARP_")}}}}))\' "$@" '
        f">> {record}\n{then}",
    )


def read_records(record: pathlib.Path) -> list[dict[str, typing.Any]]:
    if not record.exists():
        return []
    return [json.loads(line) for line in record.read_text().splitlines() if line.strip()]
