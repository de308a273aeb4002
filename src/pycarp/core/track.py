"""Health tracks: whether a service this host offers works, as an input to the election.

A track is judged from check results (a script's exit status, an interface's link state, an
integer in a file) that the runtime feeds in with the time they were taken. This module only
decides what the results mean:

- **hysteresis**: ``fall`` failures in a row take a track down, ``rise`` successes in a row
  bring it back, so a check that flaps does not move the addresses back and forth;
- **the demotion it contributes**: a down track adds its ``weight`` to the demotion of its
  groups; a *fault* track adds the ceiling (240, like maintenance) and, as it goes down, its
  groups' masters hand over (:meth:`pycarp.core.host.Host.track_result` does that part).

A track starts **up**, contributing nothing, and its **first** result decides alone. Up, so
a healthy node is never held back at start (nor demoted for ``rise`` intervals after every
restart of the daemon, which with one healthy node would leave the address on a faulty one
meanwhile). The first result alone, so a node that starts with a dead service is demoted at
its first check, before its master-down timer could make it master (a preempting node would
otherwise win an election for ``fall`` intervals). Hysteresis smooths a history; before the
first result there is none. keepalived also starts a script "up" unless told ``init_fail``.

Pure: standard library only, time is an argument.
"""

from __future__ import annotations

import dataclasses
import enum

from pycarp.core.timing import MAX_WIRE_ADVSKEW

GroupKey = tuple[str, int]  # (interface, vhid), as in pycarp.core.host

FAULT_DEMOTION = MAX_WIRE_ADVSKEW  # a down fault track demotes its groups to the ceiling
MAX_TRACK_WEIGHT = MAX_WIRE_ADVSKEW  # more could not change what goes on the wire
MAX_HYSTERESIS = 100  # fall and rise are at most this many results in a row


class TrackError(ValueError):
    """Local misuse: an unknown track, a second track of the same name, a bad spec."""


class Result(enum.Enum):
    """What one check said. Everything but ``OK`` counts as a failure."""

    OK = "ok"
    FAILED = "failed"  # non-zero exit, no carrier, unreadable file
    TIMED_OUT = "timed_out"  # killed at its timeout
    ERROR = "error"  # could not run at all (the program vanished, fork failed)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class TrackSpec:
    """What the configuration says about a track. ``weight`` None means *fault*."""

    name: str
    weight: int | None = None
    fall: int = 2
    rise: int = 2
    groups: frozenset[GroupKey] | None = None  # None: every group of the host

    def __post_init__(self) -> None:
        if self.weight is not None and not 1 <= self.weight <= MAX_TRACK_WEIGHT:
            raise TrackError(f"track {self.name}: weight {self.weight} not in 1..240")
        for what, value in (("fall", self.fall), ("rise", self.rise)):
            if not 1 <= value <= MAX_HYSTERESIS:
                raise TrackError(f"track {self.name}: {what} {value} not in 1..100")

    @property
    def fault(self) -> bool:
        return self.weight is None

    @property
    def down_demotion(self) -> int:
        """What the track adds to its groups' demotion while it is down."""
        return FAULT_DEMOTION if self.weight is None else self.weight

    def covers(self, key: GroupKey) -> bool:
        return self.groups is None or key in self.groups


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class TrackChange:
    """A track changed state or demotion: the runtime publishes it (``TrackChanged``)."""

    name: str
    up: bool
    demotion: int
    reason: str
    went_down: bool  # up -> down (a fault track's masters hand over)


@dataclasses.dataclass(slots=True)
class TrackState:
    """One track's hysteresis and the demotion it contributes now.

    ``consecutive`` counts the results in a row equal to the last one (so "3 failures" while
    up with fall 5 means two more take it down). ``value`` is a file track's integer: while the
    file is readable, *it* is the demotion (clamped 0..240), whatever the weight.
    """

    spec: TrackSpec
    up: bool = True
    consecutive: int = 0
    last: Result | None = None
    last_at: float | None = None
    since: float | None = None  # when ``up`` last changed (None: never)
    value: int | None = None

    @property
    def demotion(self) -> int:
        if not self.up:
            return self.spec.down_demotion
        return self.value or 0

    def record(self, result: Result, now: float, value: int | None = None) -> TrackChange | None:
        """Take one check result; return the change it made (None: nothing moved)."""
        ok = result is Result.OK
        first = self.last is None
        before = (self.up, self.demotion)
        if self.last is not None and (self.last is Result.OK) == ok:
            self.consecutive = min(self.consecutive + 1, MAX_HYSTERESIS)
        else:
            self.consecutive = 1
        self.last, self.last_at = result, now
        if ok:
            self.value = None if value is None else max(0, min(MAX_TRACK_WEIGHT, value))
        needed = self.spec.rise if ok else self.spec.fall
        if self.up != ok and (first or self.consecutive >= needed):
            self.up = ok
            self.since = now
        if (self.up, self.demotion) == before:
            return None
        return TrackChange(
            name=self.spec.name,
            up=self.up,
            demotion=self.demotion,
            reason=self._reason(result, first, before[0]),
            went_down=before[0] and not self.up,
        )

    def _reason(self, result: Result, first: bool, was_up: bool) -> str:
        if was_up == self.up:
            return f"the check reports demotion {self.demotion}"
        if first:
            return f"first check: {result.value}"
        word = "successes" if self.up else "failures"
        count = self.spec.rise if self.up else self.spec.fall
        return f"{count} {word} in a row" if count > 1 else f"check {result.value}"
