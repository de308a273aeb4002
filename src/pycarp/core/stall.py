"""Telling that our own process was paused (SIGSTOP, a frozen VM, a swap storm).

A group whose timer fires long after its deadline knows nothing about the seconds it missed:
a backup may already have taken over from it, or the master it listened to may be gone. The
machine treats such a wake-up as the STALLED input instead of acting on a stale view.
"""

from __future__ import annotations

from pycarp.core import events as ev
from pycarp.core.timing import SUB_SECOND_ADVBASE, advertisement_interval

MIN_STALL_THRESHOLD = 0.25  # seconds: a timer later than this (at least) reads as a pause


def stall_threshold(advbase: int, dead_ratio: int, advskew: int = 0) -> float:
    """How late a deadline may be before we assume the process was paused.

    A master silent for ``dead_ratio * advbase`` may already have been replaced, so a timer
    that much overdue (less the interval already waited) means our view is stale. A healthy
    event loop is late by milliseconds; at least one advbase is always tolerated.

    At advbase 0 the same rule in whole intervals (``advskew`` sets them) would be a few
    milliseconds, which a busy event loop exceeds without being paused; a false "paused" makes
    a healthy master step down (an outage), while a missed one only lets two masters overlap
    until the next advert settles it. So the threshold never drops below
    :data:`MIN_STALL_THRESHOLD`.
    """
    unit = advertisement_interval(advbase, advskew) if advbase == SUB_SECOND_ADVBASE else advbase
    return max(max(dead_ratio - 1, 1) * unit, MIN_STALL_THRESHOLD)


def judged_as_paused(event: ev.Event) -> bool:
    """Only our own timer's lateness tells that we were paused (and the packets its callback
    read first, which waited in the socket meanwhile). A packet arriving late says nothing
    about us: under a flood it would read packet arrival as a pause."""
    return isinstance(event, ev.TimerExpired) or (
        isinstance(event, ev.PacketReceived) and event.queued
    )
