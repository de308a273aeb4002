"""Who held an address, and when nobody (or two hosts) did: the kernel's own address events.

``ip -ts -o monitor address`` in each host's namespace prints every addition and deletion as
it happens, stamped with the wall clock (shared by every namespace, as the captures are).
From who held the address when the watch began and those events, the timeline of holders is
exact: polling ``ip addr`` every 50 ms would cost two processes per look during a flood (load
that would itself perturb the figure) and could miss a short gap.
"""

from __future__ import annotations

import dataclasses
import datetime
import ipaddress
import pathlib
import re
import subprocess
import time
import typing

from pycarp.lab import HOST_INTERFACE, Lab, LabError
from pycarp.lab.namespaces import end_child

_EVENT = re.compile(r"^\[([0-9T:.-]+)\] (Deleted )?\d+: (\S+)\s+inet6? ([0-9a-fA-F:.]+)/\d+")
START_SETTLE = 0.2  # `ip monitor` subscribes within a few ms; this leaves room on a busy machine


@dataclasses.dataclass(frozen=True)
class Change:
    at: float  # wall clock
    added: bool


class HolderWatch:
    """Additions and deletions of addresses on one node's ``eth0``, from now on."""

    def __init__(self, lab: Lab, node: str, path: pathlib.Path) -> None:
        self.node = node
        self.path = path
        with path.open("wb") as out:
            self._process = lab.popen(
                node,
                ["ip", "-ts", "-o", "monitor", "address", "dev", HOST_INTERFACE],
                stdout=out,
                stderr=subprocess.DEVNULL,
            )
        time.sleep(START_SETTLE)
        if self._process.poll() is not None:
            raise LabError(f"ip monitor on {node} exited ({self._process.returncode})")

    def changes(self, address: str) -> list[Change]:
        wanted = ipaddress.ip_address(address)
        found = []
        for line in self.path.read_text(errors="replace").splitlines():
            match = _EVENT.match(line)
            if match is None or ipaddress.ip_address(match.group(4)) != wanted:
                continue
            # ip prints local time without a zone; a naive datetime is taken as local too.
            at = datetime.datetime.fromisoformat(match.group(1)).timestamp()
            found.append(Change(at, added=not match.group(2)))
        return found

    def stop(self) -> None:
        end_child(self._process)

    def __enter__(self) -> HolderWatch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclasses.dataclass(frozen=True)
class Coverage:
    unheld: float  # seconds nobody held the address
    doubly_held: float  # seconds two or more hosts held it
    longest_unheld: float
    changes: int  # additions and deletions in the window


def coverage(
    initial: typing.Mapping[str, bool],
    changes: typing.Mapping[str, typing.Sequence[Change]],
    start: float,
    end: float,
) -> Coverage:
    """Holder counts over [start, end] from the holders at ``start`` and the later changes.

    Changes before ``start`` are ignored: ``initial`` (a look just before the window) already
    says who held the address then.
    """
    held = dict(initial)
    timeline = sorted(
        (change.at, node, change.added)
        for node, found in changes.items()
        for change in found
        if start <= change.at <= end
    )
    unheld = doubly = longest = 0.0
    gap_started: float | None = None if any(held.values()) else start
    previous = start
    for at, node, added in [*timeline, (end, "", False)]:
        holders = sum(held.values())
        if holders == 0:
            unheld += at - previous
        elif holders > 1:
            doubly += at - previous
        previous = at
        if node:
            held[node] = added
        now_holders = sum(held.values())
        if now_holders == 0 and gap_started is None:
            gap_started = at
        elif now_holders > 0 and gap_started is not None:
            longest = max(longest, at - gap_started)
            gap_started = None
    if gap_started is not None:
        longest = max(longest, end - gap_started)
    return Coverage(unheld, doubly, longest, len(timeline))
