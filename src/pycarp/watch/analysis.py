"""From the watcher's state to a report: the table per group, the changes, the findings.

Pure: the same state gives the same report, so ``--pcap`` is deterministic and live mode can
ask again every second (findings carry a ``key``; live output prints each key once). Digest
verdicts are cached per sender and recomputed only when the candidate address sets change.
"""

from __future__ import annotations

import typing

from pycarp.core.constants import IPAddress
from pycarp.watch import findings as F
from pycarp.watch.digest import (
    IFCONFIG_KEY_LEN,
    KERNEL_KEY_LEN,
    UNVERIFIED,
    Candidate,
    Form,
    Verdict,
    candidates,
)
from pycarp.watch.groups import Group, Seen, Sender
from pycarp.watch.report import GroupRow, Report, SenderRow

# (vhid, family, sender) -> the candidate sets the verdicts were computed with, the verdicts
VerdictCache = dict[tuple[int, int, IPAddress], tuple[tuple[Candidate, ...], list[Verdict]]]

if typing.TYPE_CHECKING:
    from pycarp.watch.watcher import Watcher


def build(watcher: Watcher) -> Report:
    rows = []
    found: list[F.Finding] = []
    for key in sorted(watcher.groups):
        group = watcher.groups[key]
        given = watcher.given_sets(group.ident) + watcher.configured_sets(group.ident)
        sets = candidates(
            watcher.given_sets(group.ident),
            watcher.announced_for(group),
            watcher.configured_sets(group.ident),
        )
        senders = tuple(
            SenderRow(sender=s, each=_verdicts(watcher, group, s, sets))
            for s in sorted(group.senders.values(), key=lambda s: (s.first, s.source.packed))
        )
        rows.append(GroupRow(group=group, senders=senders))
        found += _group_findings(group, senders, given)
    found += _collisions(watcher) + _malformed(watcher)
    found.sort(key=lambda f: (-f.severity, _first_time(f), f.code, f.group))
    return Report(
        start=watcher.first_time,
        end=watcher.last_time,
        packets=watcher.packets,
        groups=tuple(rows),
        findings=tuple(found),
    )


def _verdicts(
    watcher: Watcher, group: Group, sender: Sender, sets: list[Candidate]
) -> tuple[Verdict, ...]:
    if group.protocol != "carp":
        return ()
    checker = watcher.checker(group.ident)
    cache: VerdictCache = watcher.verdict_cache
    index = (group.ident, group.family, sender.source)
    wanted = tuple(sets)
    cached = cache.get(index)
    done = cached[1] if cached is not None and cached[0] == wanted else []
    for seen in sender.samples[len(done) :]:
        done.append(checker.verdict(seen.counter, seen.digest, wanted))
    cache[index] = (wanted, done)
    return tuple(done)


def _group_findings(
    group: Group, senders: tuple[SenderRow, ...], given: list[tuple[IPAddress, ...]]
) -> list[F.Finding]:
    found = _overlaps(group) + _changes(group) + _advbases(group) + _digests(group, senders, given)
    for row in senders:
        s = row.sender
        if s.bad_ttl:
            found.append(
                _finding(
                    F.TTL_NOT_255,
                    group,
                    f"{s.bad_ttl_count} multicast adverts from {s.source} arrived with TTL "
                    f"{', '.join(sorted({str(x.ttl) for x in s.bad_ttl}))}, not 255",
                    s.bad_ttl,
                    key=str(s.source),
                )
            )
        if s.bow_outs:
            found.append(
                _finding(
                    F.BOW_OUT,
                    group,
                    f"{s.source} bowed out {len(s.bow_outs)} time(s)",
                    s.bow_outs[:3],
                    key=f"{s.source} {s.bow_outs[-1].frame}",
                )
            )
        if s.demoted:
            found.append(
                _finding(
                    F.MASTER_DEMOTED,
                    group,
                    f"master {s.source} advertises demote {s.demoted[0].demote}",
                    s.demoted,
                    key=str(s.source),
                )
            )
    return found


def _overlaps(group: Group) -> list[F.Finding]:
    found = []
    overlaps = [*group.overlaps, *([group.open_overlap] if group.open_overlap else [])]
    for o in overlaps:
        if not o.is_split_brain:
            continue
        who = " and ".join(f"{a} ({n} adverts)" for a, n in o.counts.items() if n >= 2)
        found.append(
            _finding(
                F.SPLIT_BRAIN,
                group,
                f"{who} were master at once for {o.duration:.3f} s",
                [o.start, o.end],
                key=str(o.start.frame),
            )
        )
    return found


def _changes(group: Group) -> list[F.Finding]:
    found = []
    for c in group.changes:
        if c.cause == "silent" and c.gap is not None and c.previous_interval is not None:
            late = [s for _g, s in c.late][-2:]
            if c.previous_last is not None and c.previous_last not in late:
                late.append(c.previous_last)
            found.append(
                _finding(
                    F.MASTER_SILENT,
                    group,
                    f"{c.master} took over after {c.gap:.3f} s without an advert from "
                    f"{c.previous} (which advertised every {c.previous_interval:.3f} s)",
                    late,
                    key=str(c.frame),
                    extra=[(c.frame, c.time, str(c.master))],
                )
            )
        elif c.cause == "overrode":
            found.append(
                _finding(
                    F.TAKEOVER_WHILE_ADVERTISING,
                    group,
                    f"{c.master} took over from {c.previous}, whose last advert was only "
                    f"{c.gap or 0:.3f} s before and which advertises better",
                    [] if c.previous_last is None else [c.previous_last],
                    key=str(c.frame),
                    extra=[(c.frame, c.time, str(c.master))],
                )
            )
    return found


def _advbases(group: Group) -> list[F.Finding]:
    values = {s.source: s.advbases for s in group.senders.values() if s.advbases}
    if len({v for vs in values.values() for v in vs}) <= 1:
        return []
    unit = "advbase" if group.protocol == "carp" else "interval (cs)"
    text = ", ".join(f"{a}: {unit} {'/'.join(map(str, sorted(v)))}" for a, v in values.items())
    return [_finding(F.ADVBASE_MISMATCH, group, f"senders disagree: {text}", [], key=text)]


def _digests(
    group: Group, senders: tuple[SenderRow, ...], given: list[tuple[IPAddress, ...]]
) -> list[F.Finding]:
    found = []
    if group.protocol.startswith("vrrp"):
        lists = {s.source: s.address_lists for s in group.senders.values()}
        if len({a for ls in lists.values() for a in ls}) > 1:
            text = "; ".join(
                f"{src}: {' '.join(str(x) for ls in v for x in ls)}" for src, v in lists.items()
            )
            found.append(
                _finding(
                    F.ADDRESS_SET_MISMATCH, group, f"address lists differ: {text}", [], key=text
                )
            )
        return found
    kernel_sets = {
        row.sender.source: frozenset(v.addresses)
        for row in senders
        if (v := row.verdict) is not None and v.form is Form.KERNEL
    }
    verified = [
        str(row.sender.source)
        for row in senders
        if any(v.form in (Form.KERNEL, Form.UCARP) for v in row.verdicts)
    ]
    multi = any(len(x) > 1 for x in kernel_sets.values())
    for row in senders:
        s = row.sender
        failed = row.verdicts.get(UNVERIFIED, 0)
        if failed:
            others = ", ".join(a for a in verified if a != str(s.source))
            tail = f"; it verifies for {others}: this sender's passphrase or address set differs"
            found.append(
                _finding(
                    F.WRONG_PASSPHRASE,
                    group,
                    f"{failed} of {sum(row.verdicts.values())} digests of {s.source} "
                    f"do not verify{tail if others else ''}",
                    _samples_with(row, UNVERIFIED),
                    key=str(s.source),
                )
            )
        long_keys = sum(n for v, n in row.verdicts.items() if v.key_bytes > IFCONFIG_KEY_LEN)
        if long_keys:
            found.append(
                _finding(
                    F.LONG_KEY,
                    group,
                    f"{long_keys} adverts of {s.source} verify only with the first "
                    f"{KERNEL_KEY_LEN} passphrase bytes",
                    _samples_with(row, next(v for v in row.each if v.key_bytes > IFCONFIG_KEY_LEN)),
                    key=str(s.source),
                )
            )
        for v, count in row.verdicts.items():
            if v.form is not Form.UCARP:
                continue
            if multi or any(len(g) > 1 and v.addresses[0] in g for g in given):
                found.append(
                    _finding(
                        F.UCARP_FORM,
                        group,
                        f"{count} adverts of {s.source} are signed over {v.addresses[0]} alone "
                        "in a group with several addresses",
                        _samples_with(row, v),
                        key=f"{s.source} {v.addresses[0]}",
                    )
                )
    # One address inside another sender's several: the ucarp form (same bytes as a kernel
    # digest over that one address). Any other difference: the address sets differ.
    rows = {row.sender.source: row for row in senders}
    single = {
        a: v
        for a, v in kernel_sets.items()
        if len(v) == 1 and any(len(o) > 1 and v <= o for o in kernel_sets.values())
    }
    for source, addresses in single.items():
        (address,) = addresses
        found.append(
            _finding(
                F.UCARP_FORM,
                group,
                f"{source} signs over {address} alone (ucarp form, or only that address "
                "configured) in a group with several addresses",
                rows[source].sender.samples[:1],
                key=f"{source} {address}",
            )
        )
    rest = {a: v for a, v in kernel_sets.items() if a not in single}
    if len(set(rest.values())) > 1:
        text = "; ".join(f"{a}: {{{', '.join(sorted(map(str, v)))}}}" for a, v in rest.items())
        found.append(
            _finding(
                F.ADDRESS_SET_MISMATCH,
                group,
                f"digests verify over different sets: {text}",
                [],
                key=text,
            )
        )
    return found


def _samples_with(row: SenderRow, verdict: Verdict) -> list[Seen]:
    """The first advert of the sender with that verdict (its evidence)."""
    for seen in row.sender.samples:
        if row.verdict_of(seen) == verdict:
            return [seen]
    return []


def _collisions(watcher: Watcher) -> list[F.Finding]:
    carp = {ident for (proto, ident, _f) in watcher.groups if proto == "carp"}
    vrrp = {ident for (proto, ident, _f) in watcher.groups if proto.startswith("vrrp")}
    found = []
    for ident in sorted(carp & vrrp):
        evidence = []
        for (proto, i, _f), group in sorted(watcher.groups.items()):
            if i == ident:
                first = min(group.senders.values(), key=lambda s: s.first)
                evidence.append(
                    F.Evidence(frame=0, time=first.first, source=str(first.source), note=proto)
                )
        found.append(
            F.Finding(
                kind=F.VHID_COLLIDES,
                group="",
                message=f"CARP vhid {ident} and VRRP router id {ident} on one segment",
                evidence=tuple(evidence),
                key=str(ident),
            )
        )
    return found


def _malformed(watcher: Watcher) -> list[F.Finding]:
    return [
        F.Finding(
            kind=F.MALFORMED,
            group="",
            message=f"{watcher.malformed_count[source]} protocol-112 packets from {source} "
            "are neither CARP nor VRRP",
            evidence=tuple(F.Evidence(frame=f, time=t, source=source, note=n) for f, t, n in items),
            key=source,
        )
        for source, items in sorted(watcher.malformed.items())
    ]


def _finding(
    kind: F.Kind,
    group: Group,
    message: str,
    seen: typing.Iterable[Seen],
    *,
    key: str,
    extra: typing.Iterable[tuple[int, float, str]] = (),
) -> F.Finding:
    evidence = [F.Evidence(frame=s.frame, time=s.time, source=str(s.source)) for s in seen]
    evidence += [F.Evidence(frame=f, time=t, source=src) for f, t, src in extra]
    evidence.sort(key=lambda e: e.time)
    return F.Finding(
        kind=kind,
        group=group.name,
        message=message,
        evidence=tuple(evidence),
        key=f"{kind.code} {group.name} {key}",
    )


def _first_time(finding: F.Finding) -> float:
    return min((e.time for e in finding.evidence), default=0.0)
