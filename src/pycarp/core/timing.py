"""CARP's timers as pure functions (FreeBSD ``carp_setrun``), in seconds as floats.

A master advertises every ``advbase + advskew/256``; a backup declares the master dead after
``dead_ratio * advbase + advskew/256`` of silence (``dead_ratio`` is 3 in the kernels; ucarp's
``--deadratio`` makes it configurable). Both use the advskew actually sent, i.e. with demotion.
"""

from __future__ import annotations

SKEW_UNIT = 256  # advskew is in 1/256 s
MAX_WIRE_ADVSKEW = 240  # CARP_MAXSKEW: demotion never pushes the sent advskew above this
BOW_OUT_ADVBASE = 255  # a host leaving the group advertises the slowest possible timing
BOW_OUT_ADVSKEW = 255


def wire_advskew(advskew: int, demotion: int) -> int:
    """The advskew put on the wire: configured + demotion, clamped (FreeBSD ``DEMOTE_ADVSKEW``).

    FreeBSD clamps to 0..240 always. pycarp sends a configured value unchanged when there is
    no demotion (as ucarp does, so 241..254 still mean what the operator wrote), and keeps the
    clamp monotonic: a demotion can raise the sent value up to 240 but never lower a configured
    241..254 to 240, which would make a demoted group look *better* than before.
    """
    ceiling = max(advskew, MAX_WIRE_ADVSKEW)
    return max(0, min(advskew + demotion, ceiling))


def advertisement_interval(advbase: int, advskew: int) -> float:
    """Seconds between a master's adverts; also the value two masters compare."""
    return advbase + advskew / SKEW_UNIT


def master_down_interval(advbase: int, advskew: int, dead_ratio: int = 3) -> float:
    """Seconds of silence after which a backup takes over."""
    return dead_ratio * advbase + advskew / SKEW_UNIT
