"""Timer formulas and the election verdict, at their boundaries."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pycarp.core.constants import IPAddress
from pycarp.core.election import Verdict, judge
from pycarp.core.timing import (
    BOW_OUT_ADVBASE,
    BOW_OUT_ADVSKEW,
    MAX_WIRE_ADVSKEW,
    advertisement_interval,
    master_down_interval,
    wire_advskew,
)

V4 = ipaddress.IPv4Address
V6 = ipaddress.IPv6Address
OURS = V4("198.51.100.2")
PEER = V4("198.51.100.9")


@pytest.mark.parametrize(
    ("advbase", "advskew", "expected"),
    [(1, 0, 1.0), (1, 128, 1.5), (2, 64, 2.25), (255, 255, 255 + 255 / 256)],
)
def test_advertisement_interval(advbase: int, advskew: int, expected: float) -> None:
    assert advertisement_interval(advbase, advskew) == expected


@pytest.mark.parametrize(
    ("advbase", "advskew", "dead_ratio", "expected"),
    [(1, 0, 3, 3.0), (1, 128, 3, 3.5), (2, 64, 3, 6.25), (1, 0, 5, 5.0), (4, 0, 1, 4.0)],
)
def test_master_down_interval(advbase: int, advskew: int, dead_ratio: int, expected: float) -> None:
    assert master_down_interval(advbase, advskew, dead_ratio) == expected


def test_master_down_interval_defaults_to_three_intervals() -> None:
    assert master_down_interval(2, 0) == 6.0


@pytest.mark.parametrize(
    ("advskew", "demotion", "expected"),
    [
        (0, 0, 0),
        (100, 0, 100),
        (254, 0, 254),  # no demotion: sent as configured (ucarp does the same)
        (10, 20, 30),
        (100, 240, MAX_WIRE_ADVSKEW),  # capped
        (240, 1, MAX_WIRE_ADVSKEW),
        (100, -30, 70),  # a negative demotion promotes
        (100, -200, 0),  # never below zero
        (250, 10, 250),  # a demotion never lowers a configured value above the cap
        (250, -5, 245),
    ],
)
def test_wire_advskew(advskew: int, demotion: int, expected: int) -> None:
    assert wire_advskew(advskew, demotion) == expected


@given(st.integers(0, 254), st.integers(-500, 500), st.integers(0, 500))
def test_wire_advskew_is_monotonic_and_bounded(advskew: int, demotion: int, more: int) -> None:
    """More demotion never makes a group look better, and the result always fits a byte."""
    sent = wire_advskew(advskew, demotion)
    assert 0 <= sent <= max(advskew, MAX_WIRE_ADVSKEW)
    assert wire_advskew(advskew, demotion + more) >= sent


def _judge(
    peer_advbase: int,
    peer_advskew: int,
    *,
    our_advbase: int = 1,
    our_advskew: int = 0,
    dead_ratio: int = 3,
    ours: IPAddress | None = OURS,
    peer: IPAddress | None = PEER,
) -> Verdict:
    return judge(
        our_advbase=our_advbase,
        our_advskew=our_advskew,
        peer_advbase=peer_advbase,
        peer_advskew=peer_advskew,
        dead_ratio=dead_ratio,
        our_address=ours,
        peer_address=peer,
    )


def test_faster_and_slower() -> None:
    assert _judge(1, 0, our_advskew=1) is Verdict.FASTER
    assert _judge(1, 255, our_advbase=2) is Verdict.FASTER  # 1.996 s < 2 s
    assert _judge(1, 1) is Verdict.SLOWER
    assert _judge(2, 0, our_advskew=255) is Verdict.SLOWER


@pytest.mark.parametrize(
    ("ours", "peer", "expected"),
    [
        (V4("198.51.100.2"), V4("198.51.100.1"), Verdict.EQUAL_PEER_WINS),
        (V4("198.51.100.2"), V4("198.51.100.3"), Verdict.EQUAL_WE_WIN),
        # compared as numbers, not as text: .10 > .9
        (V4("198.51.100.9"), V4("198.51.100.10"), Verdict.EQUAL_WE_WIN),
        # ucarp's order (raw s_addr on a little-endian host): the last octet counts first
        (V4("203.0.113.1"), V4("198.51.100.200"), Verdict.EQUAL_WE_WIN),
        (V4("198.51.100.5"), V4("198.51.101.3"), Verdict.EQUAL_PEER_WINS),
        (V4("198.51.101.5"), V4("198.51.100.5"), Verdict.EQUAL_PEER_WINS),
        (V6("2001:db8::2"), V6("2001:db8::1"), Verdict.EQUAL_PEER_WINS),
        (V6("2001:db8::2"), V6("2001:db8::3"), Verdict.EQUAL_WE_WIN),
        # mixed families: IPv4 sorts before IPv6, whatever the numbers
        (V6("::1"), V4("255.255.255.255"), Verdict.EQUAL_PEER_WINS),
        (V4("255.255.255.255"), V6("::1"), Verdict.EQUAL_WE_WIN),
        # without one of the addresses there is no tie-break: step down, as the kernels do
        (None, V4("198.51.100.1"), Verdict.EQUAL_PEER_WINS),
        (V4("198.51.100.2"), None, Verdict.EQUAL_PEER_WINS),
    ],
)
def test_equal_timing_is_broken_by_the_lower_address(
    ours: IPAddress | None, peer: IPAddress | None, expected: Verdict
) -> None:
    assert _judge(2, 50, our_advbase=2, our_advskew=50, ours=ours, peer=peer) is expected


def test_a_bow_out_is_departing() -> None:
    assert _judge(BOW_OUT_ADVBASE, BOW_OUT_ADVSKEW) is Verdict.DEPARTING
    assert _judge(BOW_OUT_ADVBASE, BOW_OUT_ADVSKEW, our_advbase=84) is Verdict.DEPARTING


def test_departing_starts_just_beyond_our_master_down_interval() -> None:
    # ours: advbase 1, advskew 128 -> master down after 3.5 s (FreeBSD keeps the skew part)
    assert _judge(3, 128, our_advskew=128) is Verdict.SLOWER
    assert _judge(3, 129, our_advskew=128) is Verdict.DEPARTING
    assert _judge(3, 0) is Verdict.SLOWER
    assert _judge(3, 1) is Verdict.DEPARTING
    assert _judge(5, 0, dead_ratio=5) is Verdict.SLOWER
    assert _judge(5, 1, dead_ratio=5) is Verdict.DEPARTING


def test_with_dead_ratio_one_an_equal_peer_is_not_departing() -> None:
    """Our master-down interval equals our interval here; an equal peer is still a peer."""
    assert _judge(1, 100, our_advskew=100, dead_ratio=1) is Verdict.EQUAL_WE_WIN
    assert _judge(1, 101, our_advskew=100, dead_ratio=1) is Verdict.DEPARTING


@given(
    st.integers(1, 255),
    st.integers(0, 255),
    st.integers(1, 255),
    st.integers(0, 255),
    st.integers(1, 10),
)
def test_verdict_agrees_with_the_intervals(
    our_advbase: int, our_advskew: int, peer_advbase: int, peer_advskew: int, dead_ratio: int
) -> None:
    ours = advertisement_interval(our_advbase, our_advskew)
    theirs = advertisement_interval(peer_advbase, peer_advskew)
    verdict = _judge(
        peer_advbase,
        peer_advskew,
        our_advbase=our_advbase,
        our_advskew=our_advskew,
        dead_ratio=dead_ratio,
    )
    if (peer_advbase, peer_advskew) == (255, 255):  # the bow-out says it leaves, whatever we wait
        assert verdict is Verdict.DEPARTING
    elif verdict is Verdict.FASTER:
        assert theirs < ours
    elif verdict is Verdict.DEPARTING:
        assert theirs > master_down_interval(our_advbase, our_advskew, dead_ratio) >= ours
    elif verdict is Verdict.SLOWER:
        assert ours < theirs <= master_down_interval(our_advbase, our_advskew, dead_ratio)
    else:
        assert theirs == ours
