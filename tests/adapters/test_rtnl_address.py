"""The hand-packed address messages and the acknowledgement matching, without a kernel.

The bytes are compared with pyroute2's encoding of the same message (the encoder the address
path used before, and still the codec of ``platform/netlink.py``); the pipe runs against a
scripted kernel that answers out of order, late, in pieces, or not at all.
"""

from __future__ import annotations

import collections
import errno
import ipaddress
import socket
import struct
import typing

import pytest
from pyroute2.netlink import NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST
from pyroute2.netlink.rtnl import RTM_DELADDR, RTM_NEWADDR
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg

from pycarp.platform import rtnl_address
from pycarp.platform.ports import IPInterface
from pycarp.platform.rtnl_address import (
    ADD_FLAGS,
    DELETE_FLAGS,
    AddressPipe,
    Request,
    acknowledgements,
    address_request,
)

ADDRESSES = [
    ipaddress.ip_interface(text)
    for text in (
        "198.51.100.100/24",
        "203.0.113.7/32",
        "198.51.100.1/0",
        "2001:db8::100/64",
        "2001:db8:3::ffff/128",
        "2001:db8::1/0",
    )
]


def pyroute2_bytes(kind: int, flags: int, sequence: int, index: int, address: IPInterface) -> bytes:
    """The message as the address manager built it with pyroute2 before the fast path."""
    message = ifaddrmsg()
    message["index"] = index
    message["prefixlen"] = address.network.prefixlen
    ip = str(address.ip)
    if address.version == 4:
        message["family"] = socket.AF_INET
        message["attrs"] = [("IFA_LOCAL", ip), ("IFA_ADDRESS", ip)]
    else:
        message["family"] = socket.AF_INET6
        message["attrs"] = [("IFA_ADDRESS", ip), ("IFA_FLAGS", 0x02)]
    message["header"]["type"] = kind
    message["header"]["flags"] = flags
    message["header"]["sequence_number"] = sequence
    message.encode()
    return bytes(message.data)


@pytest.mark.parametrize("address", ADDRESSES, ids=str)
@pytest.mark.parametrize(
    ("kind", "flags"),
    [
        (RTM_NEWADDR, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL),
        (RTM_DELADDR, NLM_F_REQUEST | NLM_F_ACK),
    ],
    ids=["add", "delete"],
)
def test_messages_are_byte_for_byte_what_pyroute2_encodes(
    kind: int, flags: int, address: IPInterface
) -> None:
    for sequence, index in ((1, 2), (0x7FFFFFFF, 65535), (12345, 0x7FFFFFFF)):
        ours = address_request(kind, flags, sequence, index, address)
        assert ours == pyroute2_bytes(kind, flags, sequence, index, address)


def test_the_flags_and_types_are_the_kernels() -> None:
    assert (rtnl_address.RTM_NEWADDR, rtnl_address.RTM_DELADDR) == (RTM_NEWADDR, RTM_DELADDR)
    assert ADD_FLAGS == NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL
    assert DELETE_FLAGS == NLM_F_REQUEST | NLM_F_ACK


def ack(sequence: int, code: int = 0, *, echo: bytes = b"", kind: int = 2) -> bytes:
    """An NLMSG_ERROR as the kernel sends it: the error, then the request's header (and, for
    an error without NETLINK_CAP_ACK, the request's body)."""
    request = struct.pack("=IHHII", 16 + len(echo), RTM_NEWADDR, ADD_FLAGS, sequence, 0) + echo
    body = struct.pack("=i", -code) + request
    return struct.pack("=IHHII", 16 + len(body), kind, 0, sequence, 4242) + body


def test_acknowledgements_give_each_sequence_its_errno() -> None:
    odd = b"\x01\x02\x03"  # an echoed body whose length is not a multiple of 4
    datagram = (
        ack(5)
        + ack(6, errno.EEXIST, echo=bytes(24))
        + ack(7, errno.EADDRNOTAVAIL, echo=odd)
        + b"\x00"  # the padding after an odd-sized message
        + ack(8, kind=3)  # NLMSG_DONE: not an acknowledgement
        + ack(9, errno.ENODEV)
    )
    assert list(acknowledgements(datagram)) == [
        (5, 0),
        (6, errno.EEXIST),
        (7, errno.EADDRNOTAVAIL),
        (9, errno.ENODEV),
    ]


def test_a_truncated_datagram_yields_what_is_whole_and_stops() -> None:
    whole = ack(1) + ack(2, errno.EEXIST)
    assert list(acknowledgements(whole + ack(3)[:20])) == [(1, 0), (2, errno.EEXIST)]
    zero_length = struct.pack("=IHHII", 0, 2, 0, 4, 0)  # would loop forever if trusted
    assert list(acknowledgements(ack(1) + zero_length + ack(5))) == [(1, 0)]


class ScriptedKernel:
    """Answers each datagram sent with acks chosen by ``answer`` (sequence -> errno, or None
    for no ack), delivered in ``order`` and split into reads of ``per_read`` acks."""

    def __init__(
        self,
        answer: typing.Mapping[str, int | None] | None = None,
        *,
        order: str = "forward",
        per_read: int = 1000,
        late: bytes = b"",
        send_error: OSError | None = None,
    ) -> None:
        self.answer = answer or {}
        self.order = order
        self.per_read = per_read
        self.sent: list[list[tuple[int, IPInterface]]] = []
        self.reads: collections.deque[bytes] = collections.deque([late] if late else [])
        self.send_error = send_error
        self.closed = False

    def send(self, data: bytes, /) -> int:
        if self.send_error is not None:
            raise self.send_error
        messages = []
        offset = 0
        while offset < len(data):
            length, _kind, _flags, sequence, _port = struct.unpack_from("=IHHII", data, offset)
            family, prefix = struct.unpack_from("=BB", data, offset + 16)
            size = 4 if family == socket.AF_INET else 16
            ip = ipaddress.ip_address(data[offset + 28 : offset + 28 + size])
            messages.append((sequence, ipaddress.ip_interface(f"{ip}/{prefix}")))
            offset += length
        self.sent.append(messages)
        acks = [
            ack(sequence, code)
            for sequence, address in messages
            if (code := self.answer.get(str(address), 0)) is not None
        ]
        if self.order == "reverse":
            acks.reverse()
        for start in range(0, len(acks), self.per_read):
            self.reads.append(b"".join(acks[start : start + self.per_read]))
        return len(data)

    def recv(self, size: int, /) -> bytes:
        if not self.reads:
            raise TimeoutError("timed out")
        return self.reads.popleft()

    def close(self) -> None:
        self.closed = True


def requests(count: int) -> list[Request]:
    return [
        Request(RTM_NEWADDR, 2, ipaddress.ip_interface(f"198.51.100.{i + 1}/24"))
        for i in range(count)
    ]


def test_the_pipe_sends_in_windows_and_matches_acks_out_of_order() -> None:
    failing = {"198.51.100.3/24": errno.EEXIST, "198.51.100.6/24": errno.EPERM}
    kernel = ScriptedKernel(failing, order="reverse", per_read=2)
    pipe = AddressPipe(kernel, window=3)
    outcomes = pipe.run(requests(7))
    assert [len(window) for window in kernel.sent] == [3, 3, 1]
    sequences = [sequence for window in kernel.sent for sequence, _address in window]
    assert sequences == list(range(1, 8))  # one sequence number per request, never reused
    assert [None if o is None else o.errno for o in outcomes] == [
        None,
        None,
        errno.EEXIST,
        None,
        None,
        errno.EPERM,
        None,
    ]
    assert str(outcomes[2]) == "[Errno 17] netlink: EEXIST"
    assert pipe.run(requests(1)) == [None]
    assert kernel.sent[-1][0][0] == 8


def test_a_late_ack_of_an_earlier_request_is_not_taken_for_a_new_one() -> None:
    # The first request's ack went missing: its window times out; then that ack turns up,
    # claiming failure, ahead of the second run's own acks.
    kernel = ScriptedKernel({"198.51.100.1/24": None})
    pipe = AddressPipe(kernel)
    (lost,) = pipe.run(requests(1))
    assert isinstance(lost, TimeoutError)
    kernel.answer = {}
    kernel.reads.append(ack(1, errno.EPERM))
    assert pipe.run(requests(2)) == [None, None]


def test_acks_that_never_come_fail_only_their_own_requests() -> None:
    kernel = ScriptedKernel({"198.51.100.2/24": None, "198.51.100.4/24": errno.EEXIST})
    outcomes = AddressPipe(kernel, window=8).run(requests(5))
    assert isinstance(outcomes[1], TimeoutError)
    assert isinstance(outcomes[3], OSError)
    assert outcomes[3].errno == errno.EEXIST
    assert [outcomes[0], outcomes[2], outcomes[4]] == [None, None, None]


def test_a_send_that_fails_fails_its_window_and_the_next_window_is_still_tried() -> None:
    refused = OSError(errno.ENOBUFS, "No buffer space available")
    kernel = ScriptedKernel(send_error=refused)
    pipe = AddressPipe(kernel, window=2)
    assert pipe.run(requests(3)) == [refused, refused, refused]
    kernel.send_error = None
    assert pipe.run(requests(3)) == [None, None, None]


def test_sequence_numbers_wrap_without_going_negative() -> None:
    kernel = ScriptedKernel()
    pipe = AddressPipe(kernel, window=4)
    pipe._sequence = 0x7FFFFFFE
    assert pipe.run(requests(4)) == [None] * 4
    assert [sequence for sequence, _ in kernel.sent[0]] == [0x7FFFFFFF, 0, 1, 2]
