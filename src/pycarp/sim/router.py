"""One simulated host: its groups' configuration, its running daemon's Host, what it holds.

The host keeps its configuration across crashes; the daemon does not: a restart builds a fresh
:class:`~pycarp.core.host.Host` with fresh machines, as a new process would. What a real host
keeps outside the daemon process survives: the host-wide demotion (a sysctl) and maintenance
mode (saved to the state directory before it takes effect). Timers are tracked per group as
``(deadline, token)``: a queued timer whose token is no longer current is stale and ignored.
"""

from __future__ import annotations

import dataclasses

from pycarp.core.constants import IPAddress
from pycarp.core.host import GroupKey, Host
from pycarp.core.machine import GroupMachine
from pycarp.core.settings import GroupSettings
from pycarp.core.track import TrackSpec
from pycarp.sim.records import RouterStats

SIM_INTERFACE = "sim0"  # every simulated router has one interface, on the one segment


def key_of(vhid: int) -> GroupKey:
    return (SIM_INTERFACE, vhid)


@dataclasses.dataclass(frozen=True, slots=True)
class SimTrack:
    """A health track of a simulated router: checked every ``interval`` virtual seconds."""

    spec: TrackSpec
    interval: float = 1.0


class SimRouter:
    """A host on the segment. ``alive``: powered on. ``running``: its daemon is running."""

    def __init__(
        self,
        name: str,
        address: IPAddress,
        groups: list[GroupSettings],
        tracks: list[SimTrack] | None = None,
    ) -> None:
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
        self.host: Host | None = None  # None while the daemon is not running
        self.alive = True
        self.send_failing = False
        self.incarnation = 0
        self.demotion = 0  # the host-wide operator demotion, kept across restarts
        self.maintenance = False  # saved by the daemon, so kept across restarts too
        self.holding: set[int] = set()  # vhids whose addresses this router has installed
        self.timers: dict[int, tuple[float, int]] = {}  # vhid -> (armed deadline, token)
        self.stats = RouterStats()
        self.tracks: list[SimTrack] = list(tracks or ())
        # Whether each tracked service works: outside the daemon, so kept across restarts.
        self.healthy: dict[str, bool] = {track.spec.name: True for track in self.tracks}

    @property
    def running(self) -> bool:
        return self.host is not None

    @property
    def machines(self) -> dict[int, GroupMachine]:
        """The running machines by vhid (empty while the daemon is not running)."""
        if self.host is None:
            return {}
        return {key[1]: group.machine for key, group in self.host.groups.items()}

    def running_host(self) -> Host:
        """The daemon's host; asking for it while the daemon is down is the caller's bug."""
        if self.host is None:
            raise RuntimeError(f"router {self.name!r}: its daemon is not running")
        return self.host

    def halt(self) -> None:
        """The daemon is gone: no host, no timers (queued ones become stale)."""
        self.host = None
        self.timers.clear()
