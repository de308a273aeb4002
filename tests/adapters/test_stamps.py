"""The kernel receive stamps: read from ancillary data, turned into a bounded wait."""

from __future__ import annotations

import socket
import struct
import time

import pytest

from pycarp.platform import stamps


def stamp_message(seconds: float) -> tuple[int, int, bytes]:
    whole = int(seconds)
    return (
        socket.SOL_SOCKET,
        stamps.SO_TIMESTAMPNS,
        struct.pack("@qq", whole, round((seconds - whole) * 1e9)),
    )


def test_the_stamp_is_found_among_other_control_messages() -> None:
    hop_limit = (socket.IPPROTO_IPV6, socket.IPV6_HOPLIMIT, struct.pack("@i", 255))
    found = stamps.kernel_stamp([hop_limit, stamp_message(1_700_000_000.25)])
    assert found == pytest.approx(1_700_000_000.25, abs=1e-6)
    assert stamps.kernel_stamp([hop_limit]) is None
    assert stamps.kernel_stamp([(socket.SOL_SOCKET, stamps.SO_TIMESTAMPNS, b"\0" * 8)]) is None


def test_the_wait_is_the_stamps_age_within_zero_and_the_bound() -> None:
    now = time.time()
    assert stamps.waited(None) == 0.0
    assert 0.010 <= stamps.waited(now - 0.010) < 0.010 + 0.005
    assert stamps.waited(now - 3600) == stamps.MAX_WAIT  # a stepped clock, or a frozen process
    assert stamps.waited(now + 3600) == 0.0  # the clock was stepped back meanwhile


def test_the_arrival_is_on_the_monotonic_clock_dated_back_by_the_wait() -> None:
    before = time.monotonic()
    arrived = stamps.arrival([stamp_message(time.time() - 0.010)])
    after = time.monotonic()
    assert before - 0.010 - 0.005 <= arrived <= after - 0.010
    assert before <= stamps.arrival([]) <= time.monotonic()  # no stamp: now


def test_the_arrival_is_never_dated_back_beyond_the_bound_nor_ahead_of_now() -> None:
    before = time.monotonic()
    stepped_back = stamps.arrival([stamp_message(time.time() - 3600)])
    assert before - stamps.MAX_WAIT <= stepped_back <= time.monotonic() - stamps.MAX_WAIT
    ahead = stamps.arrival([stamp_message(time.time() + 3600)])
    assert before <= ahead <= time.monotonic()
