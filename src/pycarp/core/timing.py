"""CARP's timers as pure functions (FreeBSD ``carp_setrun``, OpenBSD's for advbase 0), in seconds.

A master advertises every ``advbase + advskew/256``; a backup declares the master dead after
``dead_ratio * advbase + advskew/256`` of silence (``dead_ratio`` is 3 in the kernels; ucarp's
``--deadratio`` makes it configurable). Both use the advskew actually sent, i.e. with demotion.

**advbase 0** (OpenBSD only; FreeBSD's ifconfig refuses it) is sub-second CARP: the interval is
``advskew/256`` s, ``1/256`` s when advskew is 0 too, and the master-down interval is
``dead_ratio`` whole intervals (OpenBSD: 3 of them), since "3 * advbase" would be 0. What two
masters *compare* stays the plain ``advbase + advskew/256`` (:func:`election_time`), as the
kernels compare it: (0, 0) still ranks ahead of (0, 1).
"""

from __future__ import annotations

SKEW_UNIT = 256  # advskew is in 1/256 s
MAX_WIRE_ADVSKEW = 240  # CARP_MAXSKEW: demotion never pushes the sent advskew above this
BOW_OUT_ADVBASE = 255  # a host leaving the group advertises the slowest possible timing
BOW_OUT_ADVSKEW = 255
SUB_SECOND_ADVBASE = 0  # OpenBSD's sub-second mode


def wire_advskew(advskew: int, demotion: int) -> int:
    """The advskew put on the wire: configured + demotion, clamped (FreeBSD ``DEMOTE_ADVSKEW``).

    FreeBSD clamps to 0..240 always. pycarp sends a configured value unchanged when there is
    no demotion (as ucarp does, so 241..254 still mean what the operator wrote), and keeps the
    clamp monotonic: a demotion can raise the sent value up to 240 but never lower a configured
    241..254 to 240, which would make a demoted group look *better* than before.
    """
    ceiling = max(advskew, MAX_WIRE_ADVSKEW)
    return max(0, min(advskew + demotion, ceiling))


def election_time(advbase: int, advskew: int) -> float:
    """The value two masters compare: smaller advertises more often and should be master."""
    return advbase + advskew / SKEW_UNIT


def advertisement_interval(advbase: int, advskew: int) -> float:
    """Seconds between a master's adverts (OpenBSD: 1/256 s for advbase 0 and advskew 0)."""
    if advbase == SUB_SECOND_ADVBASE:
        return max(advskew, 1) / SKEW_UNIT
    return advbase + advskew / SKEW_UNIT


def master_down_interval(advbase: int, advskew: int, dead_ratio: int = 3) -> float:
    """Seconds of silence after which a backup takes over."""
    if advbase == SUB_SECOND_ADVBASE:
        return dead_ratio * advertisement_interval(advbase, advskew)
    return dead_ratio * advbase + advskew / SKEW_UNIT


def describe_interval(seconds: float) -> str:
    """An interval for people: ``1.39 s`` from one second up, ``0.098 s`` below (advbase 0)."""
    return f"{seconds:.2f} s" if seconds >= 1 else f"{seconds:.3f} s"
