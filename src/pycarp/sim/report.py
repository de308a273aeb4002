"""Turn a finished run into a report: readable text, or a plain dict for ``--json``.

Both come from the same :class:`Report` value, so the text and the JSON can not disagree.
"""

from __future__ import annotations

import dataclasses
from collections import Counter

from pycarp.core.stats import DropReason
from pycarp.sim import analysis
from pycarp.sim.records import sorted_drops
from pycarp.sim.scenarios import SCENARIOS, Params, vrrp_priority
from pycarp.sim.simulator import Simulator


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Episodes:
    count: int
    seconds: float
    longest: float

    @classmethod
    def of(cls, spans: list[analysis.Span]) -> Episodes:
        return cls(
            count=len(spans),
            seconds=round(sum(s.length for s in spans), 6),
            longest=round(max((s.length for s in spans), default=0.0), 6),
        )


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class FailoverRow:
    fault: str
    fault_t: float
    old: str
    new: str | None
    last_advert_t: float | None
    first_advert_t: float | None
    gap: float | None
    since_fault: float | None


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class VhidSummary:
    vhid: int
    masters: list[str]
    holders: list[str]
    state_changes: int  # by the machines (crashes not counted)
    failovers: list[FailoverRow]
    split_brain: Episodes  # two or more masters at once
    no_master: Episodes  # after the first election


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class TimelineRow:
    t: float
    host: str
    vhid: int
    old: str
    new: str
    reason: str
    by_machine: bool


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class FaultRow:
    t: float
    kind: str
    host: str | None
    text: str


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Report:
    scenario: str
    description: str
    parameters: Params
    end: float
    timeline: list[TimelineRow]
    faults: list[FaultRow]
    vhids: list[VhidSummary]
    drops: dict[str, int]
    adverts_sent: int
    packets_delivered: int
    packets_lost: int
    hosts: dict[str, dict[str, object]]

    def as_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def _failover_row(f: analysis.Failover) -> FailoverRow:
    return FailoverRow(
        fault=f.fault,
        fault_t=f.fault_time,
        old=f.old,
        new=f.new,
        last_advert_t=f.last_advert_at,
        first_advert_t=f.first_advert_at,
        gap=_rounded(f.gap),
        since_fault=_rounded(f.since_fault),
    )


def build_report(sim: Simulator, params: Params) -> Report:
    end = sim.now
    vhids: list[VhidSummary] = []
    for vhid in sim.vhids:
        spans = analysis.master_spans(sim.timeline, vhid, end)
        vhids.append(
            VhidSummary(
                vhid=vhid,
                masters=sim.masters(vhid),
                holders=sim.holders(vhid),
                state_changes=sum(1 for e in sim.timeline if e.vhid == vhid and e.by_machine),
                failovers=[
                    _failover_row(f)
                    for f in analysis.failovers(sim.faults, sim.timeline, sim.adverts, vhid)
                ],
                split_brain=Episodes.of(analysis.split_brain_episodes(spans)),
                no_master=Episodes.of(analysis.outages(spans)),
            )
        )
    routers = list(sim.routers.values())
    drops: Counter[DropReason] = Counter()
    for router in routers:
        drops.update(router.stats.drops)
    return Report(
        scenario=params.scenario,
        description=SCENARIOS[params.scenario].description,
        parameters=params,
        end=end,
        timeline=[
            TimelineRow(
                t=e.time,
                host=e.router,
                vhid=e.vhid,
                old=e.old.value,
                new=e.new.value,
                reason=e.reason,
                by_machine=e.by_machine,
            )
            for e in sim.timeline
        ],
        faults=[
            FaultRow(t=r.time, kind=r.fault.kind, host=r.fault.host, text=r.fault.describe())
            for r in sim.faults
        ],
        vhids=vhids,
        drops={reason.value: n for reason, n in sorted_drops(drops)},
        adverts_sent=sum(r.stats.adverts_sent for r in routers),
        packets_delivered=sum(r.stats.packets_delivered for r in routers),
        packets_lost=sum(r.stats.packets_lost + r.stats.adverts_lost_outbound for r in routers),
        hosts={name: router.stats.as_dict() for name, router in sim.routers.items()},
    )


# -- text ----------------------------------------------------------------------------------------


def _t(value: float) -> str:
    """Aligned, for the timeline column."""
    return f"t={value:8.3f}s"


def _at(value: float | None) -> str:
    """Compact, for prose."""
    return "never" if value is None else f"t={value:.3f}s"


def _list(names: list[str]) -> str:
    return ", ".join(names) if names else "nobody"


def _header(report: Report) -> str:
    p = report.parameters
    skews = "/".join(str(s) for s in p.advskews)
    timing = f"advskew {skews}), advbase {p.advbase}, dead ratio {p.dead_ratio}"
    if p.vrrp3:
        priorities = "/".join(str(vrrp_priority(s)) for s in p.advskews)
        timing = f"VRRPv3 priority {priorities}), interval {p.advbase} s"
    return (
        f"scenario {report.scenario}: {report.description}\n"
        f"  {p.hosts} hosts ({timing}, "
        f"preempt {'on' if p.preempt else 'off'}\n"
        f"  loss {p.loss:.0%}, delay {p.delay:g}s (+ up to {p.jitter:g}s jitter), "
        f"seed {p.seed}, {p.duration:g}s simulated"
    )


def render_timeline(report: Report) -> list[str]:
    """State changes and faults, merged in time order (a fault first at equal times)."""
    width = max((len(name) for name in [*report.hosts, "segment"]), default=5)
    rows: list[tuple[float, int, int, str]] = []
    for index, fault in enumerate(report.faults):
        who = (fault.host or "segment").ljust(width)
        rows.append((fault.t, 0, index, f"{_t(fault.t)}  {who}  ** {fault.text}"))
    for index, row in enumerate(report.timeline):
        line = (
            f"{_t(row.t)}  {row.host.ljust(width)}  vhid {row.vhid}  "
            f"{row.old} -> {row.new}  ({row.reason})"
        )
        rows.append((row.t, 1, index, line))
    return [line for *_, line in sorted(rows)]


def _episodes_text(label: str, episodes: Episodes) -> str:
    if not episodes.count:
        return f"{label}: never"
    return (
        f"{label}: {episodes.count} time(s), {episodes.seconds:.3f}s in all, "
        f"longest {episodes.longest:.3f}s"
    )


def render_summary(report: Report) -> list[str]:
    lines = [f"summary at {_at(report.end)}"]
    for v in report.vhids:
        lines.append(
            f"  vhid {v.vhid}: master {_list(v.masters)}; addresses held by {_list(v.holders)}; "
            f"{v.state_changes} state changes"
        )
        for f in v.failovers:
            if f.new is None or f.gap is None:
                lines.append(f"    {f.old} {f.fault} at {_at(f.fault_t)}: nobody took over")
                continue
            lines.append(
                f"    {f.old} {f.fault} at {_at(f.fault_t)}: {f.new} took over, gap {f.gap:.3f}s "
                f"(last advert {_at(f.last_advert_t)}, first from {f.new} "
                f"{_at(f.first_advert_t)})"
            )
        lines.append("    " + _episodes_text("two or more masters", v.split_brain))
        lines.append("    " + _episodes_text("no master (after the first election)", v.no_master))
    drops = ", ".join(f"{reason} {n}" for reason, n in report.drops.items()) or "none"
    lines.append(f"  drops: {drops}")
    lines.append(
        f"  packets: {report.adverts_sent} adverts sent, {report.packets_delivered} delivered, "
        f"{report.packets_lost} lost on the way"
    )
    return lines


def render_text(report: Report, *, timeline: bool = True) -> str:
    parts = [_header(report), ""]
    if timeline:
        parts += [*render_timeline(report), ""]
    parts += render_summary(report)
    return "\n".join(parts)
