"""One simulated host: its groups' configuration, its running machines, what it holds.

The host keeps its configuration across crashes; the machines do not (a restart builds fresh
ones, as a new daemon process would). Timers are tracked per group as ``(deadline, token)``: a
queued timer whose token is no longer current is stale and ignored when it comes due.
"""

from __future__ import annotations

import dataclasses

from pycarp.core.auth import IPAddress
from pycarp.core.machine import GroupMachine
from pycarp.core.settings import GroupSettings
from pycarp.sim.records import RouterStats
from pycarp.sim.seeds import stream


class SimRouter:
    """A host on the segment. ``alive``: powered on. ``running``: its daemon is running."""

    def __init__(self, name: str, address: IPAddress, groups: list[GroupSettings]) -> None:
        vhids = [group.vhid for group in groups]
        if not groups:
            raise ValueError(f"router {name!r} needs at least one group")
        if len(set(vhids)) != len(vhids):
            raise ValueError(f"router {name!r} has the same vhid twice: {vhids}")
        self.name = name
        self.address = address
        # Each group's source is this router's address, whatever the caller put there.
        self.settings: dict[int, GroupSettings] = {
            group.vhid: dataclasses.replace(group, source=address) for group in groups
        }
        self.machines: dict[int, GroupMachine] = {}
        self.alive = True
        self.running = False
        self.send_failing = False
        self.incarnation = 0
        self.holding: set[int] = set()  # vhids whose addresses this router has installed
        self.timers: dict[int, tuple[float, int]] = {}  # vhid -> (armed deadline, token)
        self.stats = RouterStats()

    def boot_machines(self, seed: int) -> None:
        """A new daemon process: fresh machines, each with its own seeded counter source."""
        self.incarnation += 1
        self.machines = {
            vhid: GroupMachine(settings, stream(seed, self.name, vhid, self.incarnation))
            for vhid, settings in self.settings.items()
        }
        self.timers.clear()
        self.running = True

    def halt_machines(self) -> None:
        """The daemon is gone: no machines, no timers (queued ones become stale)."""
        self.machines = {}
        self.timers.clear()
        self.running = False
