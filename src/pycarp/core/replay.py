"""Which advertisement counters are stale: replay resistance that keeps every peer working.

The digest covers the counter, but nothing in CARP says a counter may be used only once:
FreeBSD and ucarp accept any valid advert ("replay protection goes here"), so a host without
the key can capture one signed advert and send it again. Two replays matter:

* **our own advert, sent back to us** (from any source address: the source is not signed). A
  master that hears it judges an "equal peer" and may yield to a ghost. OpenBSD drops an
  advert carrying its own counter ("replay or network loop"); a pycarp master drops any advert
  carrying a counter it sent. pycarp counts from its own random start and never continues a
  peer's count, but FreeBSD and ucarp do: one that took over during a partition trails our
  count by a few adverts. The master therefore jumps its own count ahead whenever it hears
  one of its counters; the adopting peer then continues from a counter we never sent, and
  the two hear each other at the next advert.
* **a master's advert, replayed after it died**: it keeps every backup waiting for as long as
  it is replayed. Masters that count (FreeBSD, pycarp, ucarp once it has heard a peer) send
  ``n, n+1, n+2 ...``; a receiver that saw a sender count drops any advert whose counter lies
  in a run it already accepted, whoever claims to send it, or before it (what that sender
  counted before we heard it) when it claims to come from that sender.

Counters are remembered as **runs** (first and last counter of one sender counting), not one
by one: a run costs the same for an hour of adverts as for one, and a handful of runs cover a
group's history (each new master starts one). Only "already accepted" counts, never "older
than the newest": FreeBSD and ucarp masters continue the count of the master they took over
from, so after a partition two of them count in parallel from one last advert, and judging
one's counters against the other's newest would make a healed group deaf to its master.

The advert's timing (advbase, advskew) is not covered by the digest, so an attacker can
replay a captured counter with any timing: only the counter can tell a replay.

A receiver may briefly take a trailing FreeBSD/ucarp master's counters for replays (they
repeat counters another master sent) until that master adopts a newer counter, i.e. until it
hears the other side once; after a partition this can cost one extra takeover.

What is *not* protected, and cannot be without breaking interop: a sender whose counter never
moves (OpenBSD sends one random cookie forever) or jumps at random (ucarp before it has heard
a peer). Its runs never grow, so its adverts are never judged stale, and a replay of them
cannot be told from the real thing. Nor is an advert captured before we first heard its
counting sender and replayed from another address: it cannot be told from an OpenBSD peer's
cookie that a FreeBSD or ucarp master continued from. docs/behaviour.md says so too.
"""

from __future__ import annotations

import dataclasses
import typing

from pycarp.core.constants import IPAddress

COUNTER_SPACE = 2**64
MAX_STEP = 1024  # a counter this far ahead of the same sender's last one continues its run
EARLIER = 2**32  # counters before a counting run's first that count as its past (replays)
MAX_RUNS = 8  # runs remembered per group, ours and the peers' (each takeover starts one)
JUMP_LOW, JUMP_LIMIT = 2**20, 2**31  # a master that hears its own counter skips this far


class RandomSource(typing.Protocol):
    """Where fresh counters come from (``random.SystemRandom()`` live, seeded in tests)."""

    def getrandbits(self, k: int, /) -> int: ...


@dataclasses.dataclass(slots=True)
class Run:
    """Counters ``first .. last`` (modulo 2**64) sent by one sender, counting up."""

    first: int
    last: int
    source: IPAddress | None  # None: our own

    @property
    def counting(self) -> bool:
        return self.first != self.last

    @property
    def span(self) -> int:
        return (self.last - self.first) % COUNTER_SPACE

    def __contains__(self, counter: object) -> bool:
        if not isinstance(counter, int):
            return False
        span = (self.last - self.first) % COUNTER_SPACE
        return (counter - self.first) % COUNTER_SPACE <= span


class ReplayGuard:
    """One group's memory of counters: the run we sent and the runs we accepted."""

    __slots__ = ("_accepted", "_sent")

    def __init__(self) -> None:
        self._sent: Run | None = None
        self._accepted: list[Run] = []

    def record_sent(self, counter: int) -> None:
        """Our count only ever moves forward (+1, or a jump): one run covers all we sent.

        It covers the counters a jump skipped too. That is what keeps an attacker from
        pushing our old counters out of memory: every replay makes us jump, and a run per
        jump would soon evict the first ones, whose replays would then be heard.
        """
        sent = self._sent
        if sent is not None and (counter - sent.last) % COUNTER_SPACE <= 2 * JUMP_LIMIT:
            sent.last = counter
        else:
            self._sent = Run(first=counter, last=counter, source=None)

    def is_ours(self, counter: int) -> bool:
        """We sent this counter: the advert is our own, looped or replayed."""
        return self._sent is not None and counter in self._sent

    def stale_run(self, counter: int, source: IPAddress) -> Run | None:
        """The counting run ``counter`` belongs to, if any: the advert is a replay.

        A counter inside a run we accepted is stale whoever claims to send it. A run also
        covers what its sender counted before we first heard it (up to :data:`EARLIER`
        counters back): a backup started after the master cannot have heard the master's
        earlier adverts, and an attacker may have captured them. That past is judged only for
        adverts from the run's own sender: FreeBSD and ucarp masters continue the last counter
        they heard, and when that was an OpenBSD peer's constant cookie, the cookie lies just
        before their count while its owner keeps sending it, from its own address.
        """
        for run in self._accepted:
            if not run.counting:
                continue
            behind = (run.last - counter) % COUNTER_SPACE
            if behind <= run.span or (behind <= run.span + EARLIER and run.source == source):
                return run
        return None

    def record_accepted(self, counter: int, source: IPAddress) -> None:
        _remember(self._accepted, counter, source)

    @staticmethod
    def jump(rng: RandomSource) -> int:
        """How far a master skips ahead after hearing its own counter (random: two masters
        that count in step part ways)."""
        value: int = JUMP_LOW + rng.getrandbits(31) % (JUMP_LIMIT - JUMP_LOW)
        return value


def _remember(runs: list[Run], counter: int, source: IPAddress | None) -> None:
    """Extend ``source``'s newest run if ``counter`` continues it, else start a new run."""
    for index in range(len(runs) - 1, -1, -1):
        run = runs[index]
        if run.source != source:
            continue
        if counter in run:  # a constant cookie, or a duplicate: nothing new
            return
        if 1 <= (counter - run.last) % COUNTER_SPACE <= MAX_STEP:
            run.last = counter
            runs.append(runs.pop(index))  # most recently used last
            return
        break
    runs.append(Run(first=counter, last=counter, source=source))
    if len(runs) > MAX_RUNS:
        # A single advert proves nothing; a counting run is what protects against replays.
        # Forget the least recently used single one first, then the least recently used.
        single = next((i for i, run in enumerate(runs) if not run.counting), 0)
        del runs[single]
