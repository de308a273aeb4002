"""Many groups in one pycarp process per host: the layout, its TOML, its state changes."""

from __future__ import annotations

import dataclasses
import pathlib

from benchlib import wiring
from benchlib.addressing import IPV4_PREFIX_LEN, IPV6_PREFIX_LEN, ipv4_virtuals, ipv6_virtuals
from pycarp.lab import Lab, LabError
from pycarp.lab.daemons import Daemon, wait_for, write_config


@dataclasses.dataclass(frozen=True)
class Group:
    segment: int  # 0 is the lab's eth0 (IPv4); 1.. are the extra segments (IPv6)
    vhid: int
    address: str

    @property
    def interface(self) -> str:
        return wiring.interface(self.segment)


@dataclasses.dataclass(frozen=True)
class Change:
    vhid: int
    interface: str
    old: str
    new: str
    reason: str


def plan(groups: int, segments: int) -> list[Group]:
    """``groups`` groups spread evenly over ``segments`` interfaces, vhids from 1 on each."""
    per_segment = -(-groups // segments)
    if per_segment > 255:
        raise ValueError("at most 255 groups per interface")
    found: list[Group] = []
    for segment in range(segments):
        count = min(per_segment, groups - len(found))
        addresses = ipv4_virtuals(count) if segment == 0 else ipv6_virtuals(segment, count)
        found += [Group(segment, i + 1, a) for i, a in enumerate(addresses)]
    return found


def write_groups(
    lab: Lab,
    node: str,
    groups: list[Group],
    skew: int,
    path: pathlib.Path,
    *,
    timers: dict[str, object] | None = None,
) -> None:
    """The node's TOML: every group with advbase 1 and ``skew`` (or the fields ``timers``
    gives instead, e.g. advbase 0 or a VRRPv3 interval), passphrase from the env."""
    tables: list[dict[str, object]] = []
    for group in groups:
        if group.segment == 0:
            source, length = str(lab.ipv4(node).ip), IPV4_PREFIX_LEN
        else:
            source, length = str(wiring.source_address(node, group.segment)), IPV6_PREFIX_LEN
        tables.append(
            {
                "interface": group.interface,
                "source": source,
                "vhid": group.vhid,
                "pass_env": "PYCARP_PASS",
                "addresses": [f"{group.address}/{length}"],
                **(timers if timers is not None else {"advbase": 1, "advskew": skew}),
            }
        )
    write_config(path, tables)


def changes(daemon: Daemon) -> list[Change]:
    """Every state change the daemon published (its ``state_changed`` events), in order."""
    return [
        Change(e["vhid"], e["interface"], e["old"], e["new"], e["reason"])
        for e in daemon.events("state_changed")
    ]


def wait_all(daemon: Daemon, state: str, groups: list[Group], timeout: float) -> None:
    """Block until every group's last state is ``state``."""
    wanted = {(g.interface, g.vhid) for g in groups}

    def done() -> bool:
        if not daemon.alive():
            raise LabError(f"pycarp on {daemon.node} exited:\n{daemon.log()[-1500:]}")
        last = {(c.interface, c.vhid): c.new for c in changes(daemon)}
        return all(last.get(key) == state for key in wanted)

    wait_for(done, timeout, 0.2)
