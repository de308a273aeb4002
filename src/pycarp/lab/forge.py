"""The flooder's packets: forged and replayed adverts, built in advance, and two ways to send.

Packets are whole IPv4 packets (header included: source, TTL 255, protocol 112, to 224.0.0.18),
so the sender can forge anything the attacker of the tests would. Two kinds of raw socket:

* :class:`FrameSender` (the default): an ``AF_PACKET`` socket bound to the interface, whole
  Ethernet frames (to 01:00:5e:00:00:12, the MAC of 224.0.0.18) sent up to 64 at a time with
  ``sendmmsg(2)`` through ctypes (Python has no ``sendmmsg``). Measured in a lab on this
  two-core machine: ~187,000 packets per CPU-second, against ~123,000 for one ``sendto`` per
  packet on an ``IPPROTO_RAW`` socket. Nearly all of the cost is the kernel's (the bridge
  floods every packet to every port, in the sender's context), so the saving comes from
  skipping the IP output path and the per-packet system call; it is what lets the flooder
  hold 50,000/s while two daemons and tcpdump compete for the same two cores.
* :class:`RawSender`: ``IPPROTO_RAW`` (``IP_HDRINCL`` implied), one ``sendto`` per packet;
  the kernel routes it out of the interface and fills in the IP header checksum. Simpler, and
  what the replays use (a handful of packets).

Both send exactly the bytes they are given. Bounds (sources, rates, counts, the lab-only rule)
are :mod:`pycarp.lab.flood`'s job, checked before anything is built here.
"""

from __future__ import annotations

import ctypes
import ipaddress
import random
import socket
import sys
import typing

from pycarp.core import wire
from pycarp.core.constants import CARP_GROUP_V4, CARP_PROTOCOL, CARP_TTL

BATCH = 64  # frames per sendmmsg call
_ETH_P_IP = 0x0800
_CARP_GROUP_MAC = bytes.fromhex("01005e000012")  # 224.0.0.18 mapped to Ethernet (RFC 1112)
TOS = 0xE0  # DSCP CS7, as FreeBSD sends adverts
POOL_SIZE = 4096  # distinct forged packets, sent round-robin


class Sender(typing.Protocol):
    def send(self, first: int, count: int) -> tuple[int, int]:
        """Send packets ``first``, ``first + 1``, ... (modulo the pool): (sent, failed)."""

    def close(self) -> None: ...


def ip_header_checksum(packet: bytes) -> bytes:
    """The packet with its 20-byte IPv4 header checksum filled in (RFC 1071)."""
    header = packet[:10] + bytes(2) + packet[12:20]
    return header[:10] + wire.internet_checksum(header).to_bytes(2, "big") + packet[12:]


# -- packets ------------------------------------------------------------------------------------


def forged_payload(vhid: int, advbase: int, advskew: int, rng: random.Random) -> bytes:
    """A 36-byte advert for ``vhid`` with a random counter and digest and a valid checksum."""
    return wire.encode(
        wire.Advertisement(
            vhid=vhid,
            advbase=advbase,
            advskew=advskew,
            counter=rng.getrandbits(64),
            digest=rng.randbytes(wire.DIGEST_LEN),
        )
    )


def ip_packet(payload: bytes, source: ipaddress.IPv4Address) -> bytes:
    """IPv4 header (TTL 255, protocol 112, DF, to 224.0.0.18) + ``payload``.

    The ID is 0 (DF is set, nothing is fragmented); the header checksum is filled in, as a
    frame sent on an ``AF_PACKET`` socket needs (on a raw IP socket Linux recomputes it).
    """
    header = bytes(
        [0x45, TOS, *(20 + len(payload)).to_bytes(2, "big"), 0, 0, 0x40, 0, CARP_TTL, CARP_PROTOCOL]
    )
    return ip_header_checksum(header + bytes(2) + source.packed + CARP_GROUP_V4.packed + payload)


def forged_pool(
    network: ipaddress.IPv4Network,
    *,
    vhid: int,
    advbase: int,
    advskew: int,
    rng: random.Random,
    size: int = POOL_SIZE,
) -> list[bytes]:
    """``size`` distinct forged packets, each from a random host address of ``network``."""
    first = int(network.network_address)
    if network.num_addresses > 2:
        low, high = first + 1, first + network.num_addresses - 2  # no network/broadcast address
    else:
        low, high = first, first + network.num_addresses - 1
    return [
        ip_packet(
            forged_payload(vhid, advbase, advskew, rng),
            ipaddress.IPv4Address(rng.randint(low, high)),
        )
        for _ in range(size)
    ]


class RawSender:
    """One ``sendto`` per packet on an ``IPPROTO_RAW`` socket tied to ``interface``."""

    def __init__(self, interface: str, pool: typing.Sequence[bytes]) -> None:
        self._pool = list(pool)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
        try:
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, interface.encode())
            mreqn = bytes(8) + socket.if_nametoindex(interface).to_bytes(4, sys.byteorder)
            self._sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, mreqn)
            self._sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
        except BaseException:
            self._sock.close()
            raise

    def send(self, first: int, count: int) -> tuple[int, int]:
        pool, size, send = self._pool, len(self._pool), self._sock.sendto
        destination = (str(CARP_GROUP_V4), 0)
        sent = failed = 0
        for index in range(first, first + count):
            try:
                send(pool[index % size], destination)
                sent += 1
            except OSError:
                failed += 1
        return sent, failed

    def close(self) -> None:
        self._sock.close()


class _IOVec(ctypes.Structure):
    _fields_: typing.ClassVar = [("base", ctypes.c_void_p), ("length", ctypes.c_size_t)]


class _MsgHdr(ctypes.Structure):
    _fields_: typing.ClassVar = [
        ("name", ctypes.c_void_p),
        ("namelen", ctypes.c_uint32),
        ("iov", ctypes.POINTER(_IOVec)),
        ("iovlen", ctypes.c_size_t),
        ("control", ctypes.c_void_p),
        ("controllen", ctypes.c_size_t),
        ("flags", ctypes.c_int),
    ]


class _MMsgHdr(ctypes.Structure):
    _fields_: typing.ClassVar = [("header", _MsgHdr), ("length", ctypes.c_uint)]


class FrameSender:
    """Whole Ethernet frames on an ``AF_PACKET`` socket, ``BATCH`` per ``sendmmsg`` call.

    The message array covers the whole pool once, built before the first send, so a batch is
    a pointer into it and the send loop allocates nothing.
    """

    def __init__(self, interface: str, pool: typing.Sequence[bytes]) -> None:
        self._sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(_ETH_P_IP))
        try:
            self._sock.bind((interface, _ETH_P_IP))
            own_mac: bytes = self._sock.getsockname()[4]
        except BaseException:
            self._sock.close()
            raise
        ethernet = _CARP_GROUP_MAC + own_mac + _ETH_P_IP.to_bytes(2, "big")
        frames = [ethernet + packet for packet in pool]
        self._buffers = [ctypes.create_string_buffer(frame, len(frame)) for frame in frames]
        self._iovecs = (_IOVec * len(frames))(
            *(
                _IOVec(ctypes.cast(buffer, ctypes.c_void_p), len(frame))
                for buffer, frame in zip(self._buffers, frames, strict=True)
            )
        )
        self._messages = (_MMsgHdr * len(frames))()
        for index in range(len(frames)):
            self._messages[index].header.iov = ctypes.pointer(self._iovecs[index])
            self._messages[index].header.iovlen = 1
        self._size = len(frames)
        self._libc = ctypes.CDLL(None, use_errno=True)
        self._stride = ctypes.sizeof(_MMsgHdr)

    def send(self, first: int, count: int) -> tuple[int, int]:
        sent = failed = 0
        fd = self._sock.fileno()
        base = ctypes.addressof(self._messages)
        while sent + failed < count:
            start = (first + sent + failed) % self._size
            batch = min(BATCH, count - sent - failed, self._size - start)
            done = self._libc.sendmmsg(fd, ctypes.c_void_p(base + start * self._stride), batch, 0)
            if done <= 0:  # ENOBUFS and the like: this batch is lost, go on with the next
                failed += batch
            else:
                sent += done  # a partial batch: the rest goes in the next call
        return sent, failed

    def close(self) -> None:
        self._sock.close()
