"""The daemon's event stream: facts in, stamped once, handed to every subscriber in order.

A subscriber that raises is a bug in that consumer: it is logged and unsubscribed, so a broken
metrics exporter can never stop the state machine that published the fact.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from pycarp.observe.facts import SCHEMA_VERSION, Fact

log = logging.getLogger("pycarp")


class Published(NamedTuple):
    """A fact with when it happened: ``mono`` (monotonic s, the daemon's clock) and ``wall``."""

    mono: float
    wall: float
    fact: Fact

    def as_json(self) -> dict[str, Any]:
        """One JSON object: ``event``, ``v``, ``mono``, ``wall``, then the fact's fields."""
        return {
            "event": self.fact.kind,
            "v": SCHEMA_VERSION,
            "mono": round(self.mono, 6),
            "wall": round(self.wall, 6),
            **self.fact.fields(),
        }


Subscriber = Callable[[Published], None]


class EventStream:
    def __init__(
        self,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._monotonic = monotonic
        self._wall = wall
        self._subscribers: list[Subscriber] = []

    def wall_of(self, mono: float) -> float:
        """The wall time of a moment on the monotonic clock (the event loop's): the runtime
        keeps only monotonic times (a wall clock that jumps must not move a timer) and asks
        here when a person needs a date."""
        return self._wall() - (self._monotonic() - mono)

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Add a subscriber; returns the function that removes it."""
        self._subscribers.append(subscriber)

        def unsubscribe() -> None:
            if subscriber in self._subscribers:
                self._subscribers.remove(subscriber)

        return unsubscribe

    def publish(self, fact: Fact) -> None:
        if not self._subscribers:
            return
        published = Published(self._monotonic(), self._wall(), fact)
        for subscriber in list(self._subscribers):
            try:
                subscriber(published)
            except Exception:
                log.exception("event consumer %r failed: unsubscribed", subscriber)
                if subscriber in self._subscribers:
                    self._subscribers.remove(subscriber)
