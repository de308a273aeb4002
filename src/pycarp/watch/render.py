"""The report as text for a terminal: one table per group, its changes of master, findings.

Times are seconds from the first protocol-112 packet (the start is printed once in UTC), so a
capture and its report can be read side by side; ``--json`` has the absolute times.
"""

from __future__ import annotations

import datetime

from pycarp.watch import findings as F
from pycarp.watch.groups import Change
from pycarp.watch.report import GroupRow, Report, SenderRow


def utc(moment: float) -> str:
    stamp = datetime.datetime.fromtimestamp(moment, datetime.UTC)
    return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def text(report: Report) -> str:
    start = report.start or 0.0
    lines = []
    if report.start is None or report.end is None:
        lines.append("no CARP or VRRP packets seen")
    else:
        lines.append(
            f"{report.packets} protocol-112 packets over {report.end - start:.3f} s "
            f"from {utc(start)} (times below: seconds from then)"
        )
    for row in report.groups:
        lines += ["", *_group(row, start)]
    lines.append("")
    if not report.findings:
        lines.append("findings: none")
    else:
        lines.append(f"findings ({len(report.findings)}):")
        for finding in report.findings:
            lines += finding_lines(finding, start)
    return "\n".join(lines)


def finding_lines(finding: F.Finding, start: float) -> list[str]:
    where = f" [{finding.group}]" if finding.group else ""
    lines = [f"  {finding.severity.label.upper()} {finding.code}{where}: {finding.message}"]
    for e in finding.evidence:
        frame = f"frame {e.frame} " if e.frame else ""
        note = f" ({e.note})" if e.note else ""
        lines.append(f"      {frame}at {e.time - start:+.3f} s from {e.source}{note}")
    lines.append(f"      advice: {finding.kind.advice}")
    return lines


def _group(row: GroupRow, start: float) -> list[str]:
    g = row.group
    master = "none" if g.master is None else str(g.master)
    carp = g.protocol == "carp"
    lines = [f"{g.name}: master {master}"]
    header = ["sender", "mac", "adverts", "advbase/skew" if carp else "priority"]
    header += ["demote" if carp else "", "interval", "measured (jitter)", "counter", "last seen"]
    table = [header] + [_sender(s, start, carp) for s in row.senders]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    for r in table:
        lines.append("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    if carp:
        for s in row.senders:
            for verdict, count in s.verdicts.most_common():
                lines.append(
                    f"  digest of {s.sender.source}: {verdict.summary()} [{count} adverts]"
                )
    for change in g.changes:
        lines.append("  " + _change(change, start))
    return lines


def _sender(row: SenderRow, start: float, carp: bool) -> list[str]:
    s, last = row.sender, row.sender.regular or row.sender.last
    assert last is not None
    assert s.last is not None
    mean, jitter = s.mean_interval, s.jitter
    measured = "-" if mean is None else f"{mean:.3f}"
    if jitter is not None:
        measured += f" ({jitter * 1000:.1f} ms)"
    return [
        str(s.source),
        ",".join(s.macs) or "-",
        str(s.count),
        f"{last.advbase}/{last.advskew}" if carp else str(last.priority),
        str(last.demote) if carp else "",
        f"{last.interval:.3f}",
        measured,
        s.counter_behaviour if carp else "-",
        f"{s.last.time - start:+.3f}" + (" (bowed out)" if s.last.bow_out else ""),
    ]


def _change(change: Change, start: float) -> str:
    at = f"{change.time - start:+.3f} s"
    if change.previous is None:
        return f"{at}  master {change.master} (first seen)"
    gap = "" if change.gap is None else f", {change.gap:.3f} s after its last advert"
    return f"{at}  master {change.previous} -> {change.master} ({change.cause}{gap})"
