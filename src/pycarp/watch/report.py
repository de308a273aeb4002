"""What ``pycarp watch`` reports: a row per sender, a table per group, the findings.

Plain data with its JSON form; :mod:`pycarp.watch.analysis` builds it, :mod:`.render` prints
it as text.
"""

from __future__ import annotations

import dataclasses
from collections import Counter

from pycarp.watch import findings as F
from pycarp.watch.digest import Verdict
from pycarp.watch.groups import Change, Group, Seen, Sender


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class SenderRow:
    sender: Sender
    each: tuple[Verdict, ...]  # one per sample of the sender, in order

    @property
    def verdicts(self) -> Counter[Verdict]:
        return Counter(self.each)

    def verdict_of(self, seen: Seen) -> Verdict | None:
        for sample, verdict in zip(self.sender.samples, self.each, strict=False):
            if sample is seen:
                return verdict
        return None

    @property
    def verdict(self) -> Verdict | None:
        """The most frequent verdict over this sender's adverts."""
        return self.verdicts.most_common(1)[0][0] if self.verdicts else None

    def as_json(self) -> dict[str, object]:
        s, last = self.sender, self.sender.regular or self.sender.last
        assert last is not None
        assert s.last is not None
        return {
            "source": str(s.source),
            "macs": s.macs,
            "adverts": s.count,
            "first_seen": s.first,
            "last_seen": s.last.time,
            "bowed_out": s.last.bow_out,
            "advbase": last.advbase if last.digest else None,
            "advskew": last.advskew if last.digest else None,
            "demote": last.demote if last.digest else None,
            "priority": None if last.digest else last.priority,
            "interval": last.interval,
            "measured_interval": {"mean": s.mean_interval, "jitter": s.jitter, "gaps": s.gaps},
            "counter": s.counter_behaviour if last.digest else None,
            "digest": [{**v.as_json(), "adverts": n} for v, n in self.verdicts.most_common()],
            "bad_ttl": s.bad_ttl_count,
        }


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class GroupRow:
    group: Group
    senders: tuple[SenderRow, ...]

    def as_json(self) -> dict[str, object]:
        g = self.group
        return {
            "group": g.name,
            "protocol": g.protocol,
            "id": g.ident,
            "family": g.family,
            "master": None if g.master is None else str(g.master),
            "senders": [row.as_json() for row in self.senders],
            "changes": [change_json(c) for c in g.changes],
        }


def change_json(change: Change) -> dict[str, object]:
    return {
        "time": change.time,
        "frame": change.frame,
        "from": None if change.previous is None else str(change.previous),
        "to": str(change.master),
        "gap": change.gap,
        "cause": change.cause,
    }


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Report:
    start: float | None
    end: float | None
    packets: int
    groups: tuple[GroupRow, ...]
    findings: tuple[F.Finding, ...]

    @property
    def worst(self) -> F.Severity | None:
        return max((f.severity for f in self.findings), default=None)

    def as_json(self) -> dict[str, object]:
        return {
            "start": self.start,
            "end": self.end,
            "packets": self.packets,
            "groups": [g.as_json() for g in self.groups],
            "findings": [f.as_json() for f in self.findings],
        }
