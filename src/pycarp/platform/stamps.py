"""The kernel's receive time stamps (``SO_TIMESTAMPNS``), and how long a packet waited for us.

Why: a backup's master-down timer should start when the master's advert *arrived*, not when
the event loop got round to reading it. Between the two lie the wake-up of a sleeping process
and the loop's own dispatch: 0.2-0.4 ms measured in the lab, every advert, which the takeover
then inherits as lateness (docs/benchmarks.md, section 1). The kernel stamps each packet as
it is queued to the socket; the time it waited is that stamp's age when we read it.

The kernel stamps with the wall clock (there is no monotonic choice for socket stamps), so
the age is a difference of two wall-clock reads a few microseconds or milliseconds apart: the
daemon's timers themselves stay on the monotonic clock. Should the wall clock be stepped in
between, the age would be wrong: it is clamped to ``0 .. MAX_WAIT``, so the worst a step can
do is start one timer ``MAX_WAIT`` early, once.

These are the only wall-clock reads of the protocol packages (tests/test_wall_clock.py).
"""

from __future__ import annotations

import socket
import struct
import time
import typing

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
# Room for the time stamp's control message (struct timespec: two 64-bit fields).
STAMP_SPACE = socket.CMSG_SPACE(16)
# The longest wait believed: far above the lab's ~0.3 ms and a loaded host's few ms, well
# below the shortest stall threshold (0.25 s, core/stall.py), so a packet read after the
# process was frozen is still judged as read late.
MAX_WAIT = 0.05

_TIMESPEC = struct.Struct("@qq")
_SOL_SOCKET = socket.SOL_SOCKET

Ancillary = typing.Sequence[tuple[int, int, bytes]]


def enable(sock: socket.socket) -> None:
    """Ask the kernel to stamp every packet this socket receives."""
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)


def kernel_stamp(ancillary: Ancillary) -> float | None:
    """The receive time stamp (wall-clock seconds) among ``recvmsg``'s ancillary data."""
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= 16:
            seconds, nanoseconds = _TIMESPEC.unpack_from(data)
            return float(seconds + nanoseconds / 1e9)
    return None


def stamp_or_now(ancillary: Ancillary) -> float:
    """The kernel's stamp, or the wall clock now for a packet without one (Linux always
    stamps when asked; the same clock either way, as a pcap file's)."""
    stamp = kernel_stamp(ancillary)
    return time.time() if stamp is None else stamp


def waited(stamp: float | None) -> float:
    """Seconds since ``stamp`` (clamped to ``0 .. MAX_WAIT``); 0.0 without a stamp."""
    if stamp is None:
        return 0.0
    return min(max(time.time() - stamp, 0.0), MAX_WAIT)


def arrival(ancillary: Ancillary) -> float:
    """When the packet arrived, on the monotonic clock (the event loop's): now, less the time
    it waited in the socket (0 without a stamp).

    On the receive path of every packet, a flood's included: the common case (the stamp is
    the one control message) is read without a loop or a call.
    """
    if len(ancillary) == 1:
        level, kind, data = ancillary[0]
        if kind == SO_TIMESTAMPNS and level == _SOL_SOCKET and len(data) >= 16:
            seconds, nanoseconds = _TIMESPEC.unpack_from(data)
            age = time.time() - (seconds + nanoseconds * 1e-9)
            now = time.monotonic()
            return now - (age if 0.0 <= age <= MAX_WAIT else (0.0 if age < 0.0 else MAX_WAIT))
    return time.monotonic() - waited(kernel_stamp(ancillary))
