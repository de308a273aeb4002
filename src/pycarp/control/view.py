"""``pycarp status`` for people: the status document (docs/control.md) as a few lines per group.

A pure function of the document and the clock, so the view is tested without a daemon. What
it shows is chosen for the question an operator asks at 3 a.m., "why is this node (not) the
master?": the state and since when, the configured timing next to what goes on the wire, every
source of demotion, who the master is and what it advertises, and the daemon's own sentence.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from pycarp.control.api import PROTOCOL_VERSION
from pycarp.core.timing import describe_interval

DAY = 86400.0


class ViewError(Exception):
    """The document does not have the v1 shape; the message is one line."""


def render(document: Mapping[str, Any], now: float, *, local: bool = True) -> str:
    """The human view of ``document`` at wall time ``now`` (``local``: local time of day)."""
    if document.get("v") != PROTOCOL_VERSION:
        raise ViewError(f"status document version {document.get('v')!r}, expected 1")
    try:
        lines = _header(document)
        for group in document["groups"]:
            lines.append("")
            lines += _group(group, now, local)
        for track in document.get("tracks", ()):  # v1 grew it: absent from older daemons
            lines.append("")
            lines += _track(track, now, local)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise ViewError(f"status document is malformed ({type(error).__name__}: {error})") from None
    return "\n".join(lines)


def _header(document: Mapping[str, Any]) -> list[str]:
    operator = document["demotion"]["operator"]
    lines = [
        f"pycarp {document['instance']} (pid {document['pid']}, up "
        f"{_duration(document['uptime'])}): maintenance {_on(document['maintenance'])}, "
        f"operator demotion {operator:+d}, {_count(len(document['groups']), 'group')}"
    ]
    for interface in document["interfaces"]:
        carrier = {True: "carrier up", False: "CARRIER DOWN", None: "carrier ignored"}[
            interface["carrier"]
        ]
        lines.append(f"  {interface['interface']}: {carrier}; drops {_counts(interface['drops'])}")
    return lines


def _since(since: float, now: float, local: bool) -> str:
    clock = time.localtime(since) if local else time.gmtime(since)
    ago = _duration(max(now - since, 0.0))
    # The time of day alone is ambiguous after a day: then the date too.
    shape = "%H:%M:%S" if now - since < DAY else "%Y-%m-%d %H:%M:%S"
    return f"since {time.strftime(shape, clock)} ({ago} ago)"


def _group(group: Mapping[str, Any], now: float, local: bool) -> list[str]:
    lines = [
        f"{group['group']}  {group['state']} {_since(group['since_wall'], now, local)}: "
        f"{group['reason']}"
    ]
    if group["maintenance"]:
        lines[0] += "  [maintenance]"
    add = lines.append
    add(f"  addresses  {', '.join(group['addresses']) or '(none)'}")
    vrrp = group.get("vrrp")
    if vrrp is not None:
        add(
            f"  VRRPv3     priority {vrrp['priority']} configured, {vrrp['priority_on_wire']} "
            f"on the wire, every {vrrp['interval']:g}s; preempt {_on(group['preempt'])}; "
            f"no authentication"
        )
        if vrrp["address_mismatches"]:
            add(f"  mismatch   {vrrp['address_mismatches']} adverts listed other addresses")
    else:
        wire = group["advskew_on_wire"]
        byte = " (demotion in the demote byte)" if group.get("demote_on_wire") == "byte" else ""
        add(
            f"  timing     advbase {group['advbase']} advskew {group['advskew']} configured, "
            f"advskew {wire} on the wire{byte}{_every(group.get('interval'), ', every ')}; "
            f"preempt {_on(group['preempt'])}"
        )
    sources = {name: value for name, value in group["demotion_sources"].items() if value}
    detail = ", ".join(f"{name} {value:+d}" for name, value in sorted(sources.items()))
    add(f"  demotion   {group['demotion']}" + (f" ({detail})" if detail else ""))
    add(f"  master     {_master(group['master'])}")
    add(f"  why        {group['why']}")
    add(
        f"  adverts    sent {group['adverts_sent']}, received {group['adverts_received']}, "
        f"send errors {group['send_errors']}"
    )
    add(f"  drops      {_counts(group['drops'])}")
    hooks = group["hooks"]
    add(
        f"  hooks      runs {hooks['runs']}, failures {hooks['failures']}, "
        f"timeouts {hooks['timeouts']}"
    )
    return lines


def _track(track: Mapping[str, Any], now: float, local: bool) -> list[str]:
    """A track: is it up, what it costs its groups, what its check said last."""
    state = "up" if track["state"] == "up" else "DOWN"
    since = track["since_wall"]
    when = "since start" if since is None else _since(since, now, local)
    mode = "fault" if track["mode"] == "fault" else f"weight {track['weight']}"
    groups = ", ".join(track["groups"]) or "(none running)"
    lines = [
        f"track {track['name']}  {state} {when}: {mode}, demotion {track['demotion']} on {groups}"
    ]
    add = lines.append
    add(
        f"  check      {track['kind']} {track['target']} every {track['interval']:g}s"
        + (f" (timeout {track['timeout']:g}s)" if track["kind"] == "script" else "")
        + f", fall {track['fall']}, rise {track['rise']}"
    )
    last = track["last_result"]
    if last is None:
        add("  last       not checked yet")
    else:
        detail = f": {track['last_detail']}" if track["last_detail"] else ""
        add(f"  last       {last}{detail} ({_count(track['consecutive'], 'time')} in a row)")
    add(f"  checks     {_counts(track['checks'])}")
    for line in track["last_output"]:
        add(f"  output     {line}")
    return lines


def _master(master: Mapping[str, Any] | None) -> str:
    if master is None:
        return "none heard"
    who = f"{master['address']} (us)" if master["is_us"] else master["address"]
    if "priority" in master:  # VRRPv3
        return f"{who}, priority {master['priority']}"
    demote = f" demote {master['demote']}" if master.get("demote") else ""
    timing = f"advbase {master['advbase']} advskew {master['advskew']}{demote}"
    return f"{who}, advertising {timing}{_every(master.get('interval'), ' every ')}"


def _every(seconds: object, prefix: str) -> str:
    """``prefix`` and the interval, or nothing when the status has none (an older daemon)."""
    if isinstance(seconds, int | float) and not isinstance(seconds, bool):
        return prefix + describe_interval(seconds)
    return ""


def _counts(counts: Mapping[str, int]) -> str:
    shown = [f"{reason} {count}" for reason, count in sorted(counts.items()) if count]
    return ", ".join(shown) if shown else "none"


def _on(flag: bool) -> str:
    return "on" if flag else "off"


def _duration(seconds: float) -> str:
    """42s, 5m07s, 3h02m, 4d05h: two units at most, the way people read an age."""
    whole = int(seconds)
    if whole < 120:
        return f"{whole}s"
    minutes, second = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m{second:02d}s"
    hours, minute = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h{minute:02d}m"
    days, hour = divmod(hours, 24)
    return f"{days}d{hour:02d}h"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"
