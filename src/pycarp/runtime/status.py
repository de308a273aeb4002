"""The status document (schema v1, docs/control.md): what ``pycarp status``, the metrics
exporter and SIGUSR1 show, built from the live host in one pass.

Field names are a stable interface: scripts parse ``pycarp status --json``. Add fields; never
rename or remove one without bumping ``v``.
"""

from __future__ import annotations

import os
import time
import typing
from typing import Any

from pycarp.core.explain import why
from pycarp.core.table import State
from pycarp.core.timing import advertisement_interval

if typing.TYPE_CHECKING:
    from pycarp.core.machine import GroupMachine
    from pycarp.runtime.daemon import Daemon
    from pycarp.runtime.driver import GroupDriver

STATUS_VERSION = 1


def build_status(daemon: Daemon) -> dict[str, Any]:
    host = daemon.host
    interfaces = sorted({key[0] for key in daemon.drivers} | set(host.interface_drops))
    return {
        "v": STATUS_VERSION,
        "pid": os.getpid(),
        "instance": daemon.config.instance,
        "uptime": round(time.monotonic() - daemon.started_at, 3),
        "maintenance": host.maintenance,
        "demotion": {"operator": host.operator_demotion},
        "interfaces": [
            {
                "interface": name,
                "carrier": host.carrier.get(name),
                "drops": _nonzero(host.interface_drops[name].as_dict())
                if name in host.interface_drops
                else {},
            }
            for name in interfaces
        ],
        "groups": [group_status(daemon, driver) for driver in daemon.drivers.values()],
        "tracks": daemon.tracks.status(),
    }


def group_status(daemon: Daemon, driver: GroupDriver) -> dict[str, Any]:
    host = daemon.host
    machine = driver.machine
    config = driver.config
    settings = config.settings
    change = driver.last_change
    reason = change.reason if change is not None else "not started"
    master: dict[str, Any] | None = None
    if machine.state is State.MASTER:
        master = {
            "address": str(settings.source),
            "advbase": settings.advbase,
            "advskew": machine.advskew_on_wire,
            "demote": machine.demote_on_wire,
            "interval": advertisement_interval(settings.advbase, machine.advskew_on_wire),
            "is_us": True,
        }
    elif machine.state is State.BACKUP and machine.last_master is not None:
        advbase, advskew = machine.last_timing or (0, 0)
        master = {
            "address": str(machine.last_master),
            "advbase": advbase,
            "advskew": advskew,
            "demote": machine.last_demote,
            "interval": advertisement_interval(advbase, advskew),
            "is_us": False,
        }
    counters = driver.counters
    vrrp = _vrrp_status(machine, master)
    return {
        "group": config.name,
        "vhid": settings.vhid,
        "interface": config.interface,
        "state": machine.state.value,
        "since_wall": round(daemon.stream.wall_of(driver.changed_at), 3),
        "reason": reason,
        "addresses": [str(p) for p in config.prefixes],
        "advbase": settings.advbase,
        "advskew": settings.advskew,
        "advskew_on_wire": machine.advskew_on_wire,
        "demote_on_wire": settings.demote_on_wire.value,
        "interval": machine.advertisement_interval,
        "preempt": settings.preempt,
        "demotion": machine.demotion,
        "demotion_sources": host.sources(driver.key).as_dict(),
        "maintenance": host.maintenance,
        "master": master,
        "why": why(machine, reason, maintenance=host.maintenance),
        "adverts_sent": counters.adverts_sent,
        "adverts_received": machine.adverts_received,
        "send_errors": counters.send_errors,
        "drops": _nonzero(machine.stats.as_dict()),
        "hooks": {
            "runs": counters.hooks.runs,
            "failures": counters.hooks.failures,
            "timeouts": counters.hooks.timeouts,
        },
        "protocol": machine.settings.protocol.value,
        **vrrp,
    }


def _vrrp_status(machine: GroupMachine, master: dict[str, Any] | None) -> dict[str, Any]:
    """A VRRPv3 group's own fields (docs/control.md); the master's priority goes in
    ``master``. Nothing for a CARP group."""
    rules = machine.vrrp
    if rules is None:
        return {}
    if master is not None:  # CARP's timing fields mean nothing here: VRRPv3's instead
        us = master["is_us"]
        master["priority"] = rules.priority(machine.demotion) if us else rules.last_priority
        master["interval"] = machine.settings.interval if us else rules.active_interval_cs / 100
    return {
        "vrrp": {
            "priority": machine.settings.priority,
            "priority_on_wire": rules.priority(machine.demotion),
            "interval": machine.settings.interval,
            "active_interval": rules.active_interval_cs / 100,
            "preempt_delay": machine.settings.preempt_delay,
            "checksum": machine.settings.vrrp_checksum.value,
            "address_mismatches": rules.address_mismatches,
            "authentication": False,
        }
    }


def _nonzero(counts: dict[str, int]) -> dict[str, int]:
    return {reason: count for reason, count in counts.items() if count}


def status_lines(daemon: Daemon) -> list[str]:
    """The SIGUSR1 dump: one line per group, then per interface drops for no group."""
    lines = []
    for driver in daemon.drivers.values():
        m = driver.machine
        drops = ", ".join(f"{k}={v}" for k, v in m.stats.as_dict().items() if v) or "none"
        master = (
            ""
            if m.state is State.MASTER or m.last_master is None
            else (f", master {m.last_master}")
        )
        timing = (
            f"advbase {driver.config.settings.advbase}, advskew {m.advskew_on_wire}"
            if m.vrrp is None
            else f"VRRPv3 priority {m.vrrp.priority(m.demotion)}, interval "
            f"{m.advertisement_interval:.2f} s"
        )
        lines.append(
            f"{driver.config.name}: {m.state.value} ({timing}, demotion {m.demotion}{master}); "
            f"adverts sent {driver.counters.adverts_sent}, send errors "
            f"{driver.counters.send_errors}, hooks run {driver.counters.hooks.runs} "
            f"(failed {driver.counters.hooks.failures}, timed out "
            f"{driver.counters.hooks.timeouts}); drops: {drops}"
        )
    for interface, stats in daemon.interface_drops.items():
        if stats.total:
            drops = ", ".join(f"{k}={v}" for k, v in stats.as_dict().items() if v)
            lines.append(f"{interface}: packets for no group here: {drops}")
    return lines
