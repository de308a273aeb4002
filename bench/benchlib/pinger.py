"""A client pinging a virtual address at a fixed pace, for the client-visible outage.

``ping -i 0.01`` from iputils paces itself loosely (about 16 ms between requests on the lab
machine), so this sends ICMP echo requests on an absolute schedule and records each reply's
kernel receive time (``SO_TIMESTAMPNS``). The outage is the longest silence between two
consecutive replies: the last reply before the failure to the first one after it.

Run inside the client's namespace (the lab does that), it prints one JSON object::

    python pinger.py --target 198.51.100.100 --count 600 --interval 0.01
"""

from __future__ import annotations

import argparse
import dataclasses
import ipaddress
import json
import os
import select
import socket
import struct
import sys
import time
import typing

MAX_COUNT = 20_000  # every sending loop is bounded
ICMP_ECHO_REQUEST = 8
ICMP_ECHO_REPLY = 0
_TIMESPEC = struct.Struct("@qq")
# Linux's SO_TIMESTAMPNS (typeshed does not list it): kernel receive time as a timespec.
SO_TIMESTAMPNS: int = getattr(socket, "SO_TIMESTAMPNS", 35)


@dataclasses.dataclass(frozen=True)
class PingResult:
    sent: int
    first_sent: float  # wall clock
    last_sent: float
    replies: list[float]  # kernel receive times, wall clock, in arrival order

    @property
    def lost(self) -> int:
        return self.sent - len(self.replies)

    def longest_silence(self, after: float | None = None) -> tuple[float, float]:
        """(last reply before, first reply after) around the longest gap between replies.

        With ``after``, only gaps that end after that time count (the failure being measured,
        not an ARP resolution at the start).
        """
        pairs = list(zip(self.replies, self.replies[1:], strict=False))
        if after is not None:
            pairs = [pair for pair in pairs if pair[1] > after]
        if not pairs:
            raise ValueError("fewer than two replies: no outage can be measured")
        return max(pairs, key=lambda pair: pair[1] - pair[0])

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> PingResult:
        data = json.loads(text)
        return cls(
            sent=int(data["sent"]),
            first_sent=float(data["first_sent"]),
            last_sent=float(data["last_sent"]),
            replies=[float(value) for value in data["replies"]],
        )


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def echo_request(identifier: int, sequence: int) -> bytes:
    body = struct.pack("!d", time.time()) + bytes(24)
    header = struct.pack("!BBHHH", ICMP_ECHO_REQUEST, 0, 0, identifier, sequence)
    total = checksum(header + body)
    return struct.pack("!BBHHH", ICMP_ECHO_REQUEST, 0, total, identifier, sequence) + body


def ping(target: str, count: int, interval: float) -> PingResult:
    """Send ``count`` requests ``interval`` apart; collect replies until one interval after."""
    count = min(count, MAX_COUNT)
    identifier = os.getpid() & 0xFFFF
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    sock.setblocking(False)
    replies: list[float] = []
    seen: set[int] = set()
    started = time.monotonic()
    first_sent = time.time()
    last_sent = first_sent
    sent = 0
    end = started + count * interval + 1.0  # the last request's reply gets one second
    while True:
        now = time.monotonic()
        if now >= end:
            break
        if sent < count and now >= started + sent * interval:
            sock.sendto(echo_request(identifier, sent & 0xFFFF), (target, 0))
            last_sent = time.time()
            sent += 1
            continue
        next_send = started + sent * interval if sent < count else end
        readable, _, _ = select.select([sock], [], [], max(0.0, next_send - now))
        if readable:
            _receive(sock, identifier, replies, seen)
    sock.close()
    return PingResult(sent=sent, first_sent=first_sent, last_sent=last_sent, replies=replies)


def _receive(sock: socket.socket, identifier: int, replies: list[float], seen: set[int]) -> None:
    for _ in range(100):  # bounded drain
        try:
            data, ancillary, _flags, _address = sock.recvmsg(2048, socket.CMSG_SPACE(16))
        except BlockingIOError:
            return
        stamp = time.time()
        for level, kind, value in ancillary:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                seconds, nanoseconds = _TIMESPEC.unpack(value[: _TIMESPEC.size])
                stamp = seconds + nanoseconds / 1e9
        header_len = (data[0] & 0x0F) * 4
        kind_, _code, _sum, ident, sequence = struct.unpack_from("!BBHHH", data, header_len)
        if kind_ == ICMP_ECHO_REPLY and ident == identifier and sequence not in seen:
            seen.add(sequence)
            replies.append(stamp)


def main(argv: typing.Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--target", required=True, type=ipaddress.IPv4Address)
    parser.add_argument("--count", type=int, required=True, help=f"requests (at most {MAX_COUNT})")
    parser.add_argument("--interval", type=float, default=0.01, help="seconds between requests")
    args = parser.parse_args(argv)
    result = ping(str(args.target), args.count, args.interval)
    sys.stdout.write(result.to_json() + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
