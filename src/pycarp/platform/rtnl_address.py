"""Address add/delete over rtnetlink, packed by hand and pipelined: the takeover hot path.

``bench/scale.py`` showed where 1,000 simultaneous takeovers spent their time: pyroute2
encoding and decoding each RTM_NEWADDR (~0.35 ms; the kernel needs ~0.02 ms), one round trip
per address, serialised. Here the messages are packed with :mod:`struct` (a fixed layout: the
``ifaddrmsg`` header and two attributes) and a window of them is written with one ``send``:
the kernel runs the messages of a datagram one after another, before ``send`` returns.

Only the window's last message asks for an acknowledgement (NLM_F_ACK); the kernel answers
every failed request anyway, with its errno and sequence number. So a window costs one
``send`` and one ``recv`` plus one per failure, not one per address: each system call lets the
worker thread lose the GIL to the event loop, and getting it back took milliseconds while a
thousand groups were taking over. The last message's acknowledgement closes the window: the
kernel answered in order, so a request before it without an error succeeded.

The window bounds the answers in flight (if every request failed, their answers must fit the
receive buffer, or the kernel drops some and says ENOBUFS). pyroute2 stays in ``netlink.py``
for what it is good at (link state, dumps).
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import socket
import struct
import threading
import typing
from collections.abc import Iterator, Sequence

from pycarp.core.constants import IPInterface

RTM_NEWADDR = 20
RTM_DELADDR = 21
NLMSG_ERROR = 2
NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400
ADD_FLAGS = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL  # NLM_F_ACK on a window's last only
DELETE_FLAGS = NLM_F_REQUEST
IFA_ADDRESS = 1
IFA_LOCAL = 2
IFA_FLAGS = 8
IFA_F_NODAD = 0x02

WINDOW = 128  # requests per send: even if all fail, their answers fit the receive buffer
RECEIVE_BUFFER = 1 << 20  # bytes; each answer takes ~1 KiB of it (the kernel's accounting)
REQUEST_TIMEOUT = 5.0  # seconds to wait for the kernel's next acknowledgement
_RECV_SIZE = 1 << 16
_SOL_NETLINK = getattr(socket, "SOL_NETLINK", 270)
_NETLINK_CAP_ACK = 10  # error acks carry the request's header only, not the whole request

_HEADER = struct.Struct("=IHHII")  # nlmsghdr: length, type, flags, sequence, port id
_IFADDRMSG = struct.Struct("=BBBBI")  # family, prefix length, flags, scope, interface index
_ATTR = struct.Struct("=HH")  # rtattr: length, type
_ERROR = struct.Struct("=i")  # nlmsgerr.error; the request's nlmsghdr follows


def _attribute(kind: int, payload: bytes) -> bytes:
    """One rtattr; every payload here is 4 or 16 bytes, so no padding is needed."""
    return _ATTR.pack(_ATTR.size + len(payload), kind) + payload


def address_request(
    kind: int, flags: int, sequence: int, index: int, address: IPInterface
) -> bytes:
    """One RTM_NEWADDR/RTM_DELADDR message, byte for byte what pyroute2 encodes.

    IPv4 carries IFA_LOCAL and IFA_ADDRESS (the same: not point-to-point); IPv6 carries
    IFA_ADDRESS and IFA_FLAGS=NODAD: a virtual address must be usable the moment we become
    master, and a duplicate during a split brain must not leave it "dadfailed" for good.
    """
    packed = address.ip.packed
    if isinstance(address, ipaddress.IPv4Interface):
        family = socket.AF_INET
        attributes = _attribute(IFA_LOCAL, packed) + _attribute(IFA_ADDRESS, packed)
    else:
        family = socket.AF_INET6
        attributes = _attribute(IFA_ADDRESS, packed) + _attribute(
            IFA_FLAGS, struct.pack("=I", IFA_F_NODAD)
        )
    body = _IFADDRMSG.pack(family, address.network.prefixlen, 0, 0, index) + attributes
    return _HEADER.pack(_HEADER.size + len(body), kind, flags, sequence, 0) + body


def acknowledgements(data: bytes) -> Iterator[tuple[int, int]]:
    """(sequence, errno) of every NLMSG_ERROR in a datagram; errno 0 is success.

    Anything else (there should be nothing else on this socket) is skipped, as is a message
    too short to be an acknowledgement.
    """
    offset = 0
    while offset + _HEADER.size <= len(data):
        length, kind, _flags, sequence, _port = _HEADER.unpack_from(data, offset)
        if length < _HEADER.size or offset + length > len(data):
            return  # truncated: nothing sensible follows
        if kind == NLMSG_ERROR and length >= _HEADER.size + _ERROR.size:
            (error,) = _ERROR.unpack_from(data, offset + _HEADER.size)
            yield sequence, -error
        offset += (length + 3) & ~3


def netlink_error(code: int) -> OSError:
    """The kernel's refusal as an OSError, worded as the address manager always has."""
    return OSError(code, f"netlink: {errno.errorcode.get(code, code)}")


class Request(typing.NamedTuple):
    kind: int  # RTM_NEWADDR or RTM_DELADDR
    ifindex: int
    address: IPInterface


class Datagrams(typing.Protocol):
    """What the pipe needs of its socket (a test gives it a scripted kernel)."""

    def send(self, data: bytes, /) -> int: ...

    def recv(self, size: int, /) -> bytes: ...

    def close(self) -> None: ...


def open_route_socket(timeout: float = REQUEST_TIMEOUT) -> socket.socket:
    """A blocking rtnetlink socket in the calling thread's namespace, each read bounded."""
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
    sock.bind((0, 0))
    sock.settimeout(timeout)
    with contextlib.suppress(OSError):  # Linux 4.3+; without it error acks are longer
        sock.setsockopt(_SOL_NETLINK, _NETLINK_CAP_ACK, 1)
    # Capped by net.core.rmem_max (212992 bytes at least, room for WINDOW answers).
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
    return sock


class AddressPipe:
    """An rtnetlink socket that carries address requests in windows, one outcome each.

    Opened in the network namespace of the thread that constructs it. Blocking; a lock
    serialises callers, so worker threads may share it.
    """

    def __init__(self, sock: Datagrams | None = None, *, window: int = WINDOW) -> None:
        self._sock: Datagrams = sock if sock is not None else open_route_socket()
        self._window = window
        self._sequence = 0
        self._lock = threading.Lock()

    def run(self, requests: Sequence[Request]) -> list[OSError | None]:
        """Send every request; per request None (done) or the kernel's error.

        An error never stops the requests after it: each message stands alone in the kernel.
        """
        outcomes: list[OSError | None] = []
        with self._lock:
            for start in range(0, len(requests), self._window):
                outcomes += self._run_window(requests[start : start + self._window])
        return outcomes

    def _run_window(self, requests: Sequence[Request]) -> list[OSError | None]:
        first = self._sequence + 1
        self._sequence = (self._sequence + len(requests)) & 0x7FFFFFFF
        sequences = {(first + i) & 0x7FFFFFFF: i for i in range(len(requests))}
        last = len(requests) - 1
        datagram = b"".join(
            address_request(
                request.kind,
                (ADD_FLAGS if request.kind == RTM_NEWADDR else DELETE_FLAGS)
                | (NLM_F_ACK if i == last else 0),
                sequence,
                request.ifindex,
                request.address,
            )
            for i, (sequence, request) in enumerate(zip(sequences, requests, strict=True))
        )
        outcomes: list[OSError | None] = [None] * len(requests)
        try:
            self._sock.send(datagram)
        except OSError as error:  # nothing was sent: every request fails alike
            return [error] * len(requests)
        answered = [False] * len(requests)
        try:
            while not answered[last]:
                for sequence, code in acknowledgements(self._sock.recv(_RECV_SIZE)):
                    i = sequences.get(sequence)
                    if i is None:
                        continue  # a late answer to a window that timed out
                    answered[i] = True
                    if code:
                        outcomes[i] = netlink_error(code)
        except OSError as error:  # a timeout, or answers lost (ENOBUFS): the rest unknown
            for i in range(len(requests)):
                if not answered[i]:
                    outcomes[i] = error
        return outcomes

    def close(self) -> None:
        self._sock.close()
