"""The virtual Ethernet segment: one cable per router into one switch.

A packet from A to B crosses A's cable, then B's. So:

* ``loss_out`` on A's cable loses the packet for *every* receiver (one draw per packet);
  ``loss_in`` on B's cable loses it for B only (one draw per packet per receiver). "20 % loss
  on every link" in the scenarios means ``loss_in = 0.2`` everywhere: independent per receiver.
* The transit time is ``A.delay + B.delay`` plus a uniform draw from each cable's ``jitter``.
  A switch does not reorder one sender's frames, so arrivals from A to B stay in send order.
* Carrier down on either cable, or A and B in different partitions, means B cannot hear A.

Every random draw comes from the one ``random.Random`` the simulator passes in.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterable, Sequence


def _check_probability(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name}: {value!r} is not a probability from 0 to 1")


def _check_duration(name: str, value: float) -> None:
    if not value >= 0.0:  # also rejects NaN
        raise ValueError(f"{name}: {value!r} must be a duration of 0 s or more")


@dataclasses.dataclass(slots=True, kw_only=True)
class Link:
    """One router's cable to the switch (mutable: faults change it while the run goes on)."""

    loss_in: float = 0.0
    loss_out: float = 0.0
    delay: float = 0.0005
    jitter: float = 0.0
    carrier: bool = True

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        _check_probability("loss_in", self.loss_in)
        _check_probability("loss_out", self.loss_out)
        _check_duration("delay", self.delay)
        _check_duration("jitter", self.jitter)


class Segment:
    """Who can hear whom, and how long (or whether) a packet takes to get there."""

    __slots__ = ("_last_arrival", "_partition_of", "_rng", "links")

    def __init__(self, rng: random.Random) -> None:
        self.links: dict[str, Link] = {}
        self._rng = rng
        self._partition_of: dict[str, int] | None = None  # None: no partition
        self._last_arrival: dict[tuple[str, str], float] = {}

    def attach(self, router: str, link: Link) -> None:
        if router in self.links:
            raise ValueError(f"router {router!r} is already attached")
        link.validate()
        self.links[router] = link
        if self._partition_of is not None:  # joins a partitioned segment alone
            self._partition_of[router] = min(self._partition_of.values(), default=0) - 1

    # -- partitions ---------------------------------------------------------------------------

    def partition(self, groups: Sequence[Iterable[str]]) -> None:
        """Each group hears only itself; routers in no group are isolated on their own."""
        partition_of: dict[str, int] = {}
        for index, group in enumerate(groups):
            for router in group:
                if router not in self.links:
                    raise ValueError(f"partition names unknown router {router!r}")
                if router in partition_of:
                    raise ValueError(f"router {router!r} is in two partition groups")
                partition_of[router] = index
        for offset, router in enumerate(r for r in self.links if r not in partition_of):
            partition_of[router] = -1 - offset  # a group of its own
        self._partition_of = partition_of

    def heal(self) -> None:
        self._partition_of = None

    def can_hear(self, sender: str, receiver: str) -> bool:
        """Both carriers up and the same partition (sender and receiver distinct)."""
        links = self.links
        if not (links[sender].carrier and links[receiver].carrier):
            return False
        part = self._partition_of
        return part is None or part[sender] == part[receiver]

    def reachable_from(self, router: str) -> list[str]:
        """Everyone ``router`` can hear or be heard by right now (not itself), in attach order."""
        return [other for other in self.links if other != router and self.can_hear(router, other)]

    # -- one packet ---------------------------------------------------------------------------

    def lost_outbound(self, sender: str) -> bool:
        probability = self.links[sender].loss_out
        return probability > 0.0 and self._rng.random() < probability

    def lost_inbound(self, receiver: str) -> bool:
        probability = self.links[receiver].loss_in
        return probability > 0.0 and self._rng.random() < probability

    def arrival_time(self, sender: str, receiver: str, sent_at: float) -> float:
        """When a packet sent now reaches ``receiver``; never before the previous one did."""
        out_link, in_link = self.links[sender], self.links[receiver]
        transit = out_link.delay + in_link.delay
        if out_link.jitter:
            transit += self._rng.uniform(0.0, out_link.jitter)
        if in_link.jitter:
            transit += self._rng.uniform(0.0, in_link.jitter)
        key = (sender, receiver)
        arrival = max(sent_at + transit, self._last_arrival.get(key, sent_at))
        self._last_arrival[key] = arrival
        return arrival
