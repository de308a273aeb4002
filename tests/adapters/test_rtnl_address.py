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

from pycarp.core.constants import IPInterface
from pycarp.platform import rtnl_address
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
        (RTM_NEWADDR, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL),
        (RTM_NEWADDR, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL),
        (RTM_DELADDR, NLM_F_REQUEST),
        (RTM_DELADDR, NLM_F_REQUEST | NLM_F_ACK),
    ],
    ids=["add", "add-ack", "delete", "delete-ack"],
)
def test_messages_are_byte_for_byte_what_pyroute2_encodes(
    kind: int, flags: int, address: IPInterface
) -> None:
    for sequence, index in ((1, 2), (0x7FFFFFFF, 65535), (12345, 0x7FFFFFFF)):
        ours = address_request(kind, flags, sequence, index, address)
        assert ours == pyroute2_bytes(kind, flags, sequence, index, address)


def test_the_flags_and_types_are_the_kernels() -> None:
    assert (rtnl_address.RTM_NEWADDR, rtnl_address.RTM_DELADDR) == (RTM_NEWADDR, RTM_DELADDR)
    assert ADD_FLAGS == NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL
    assert DELETE_FLAGS == NLM_F_REQUEST


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
    """Runs each datagram's messages in order, as the kernel does: answers a request that
    fails (``answer``: address -> errno) or that asks for an acknowledgement, and drops the
    answers of the addresses mapped to None (as a full receive buffer would). The answers
    are read ``per_read`` at a time; a read with nothing queued times out."""

    def __init__(
        self,
        answer: typing.Mapping[str, int | None] | None = None,
        *,
        per_read: int = 1000,
        send_error: OSError | None = None,
    ) -> None:
        self.answer = dict(answer or {})
        self.per_read = per_read
        self.sent: list[list[tuple[int, int, IPInterface]]] = []  # (sequence, flags, address)
        self.reads: collections.deque[bytes | OSError] = collections.deque()
        self.recv_calls = 0
        self.send_error = send_error
        self.overrun_after: tuple[int, OSError] | None = None  # (answers read, then this)

    def send(self, data: bytes, /) -> int:
        if self.send_error is not None:
            raise self.send_error
        messages = []
        offset = 0
        while offset < len(data):
            length, _kind, flags, sequence, _port = struct.unpack_from("=IHHII", data, offset)
            family, prefix = struct.unpack_from("=BB", data, offset + 16)
            size = 4 if family == socket.AF_INET else 16
            ip = ipaddress.ip_address(data[offset + 28 : offset + 28 + size])
            messages.append((sequence, flags, ipaddress.ip_interface(f"{ip}/{prefix}")))
            offset += length
        self.sent.append(messages)
        answers = []
        for sequence, flags, address in messages:
            code = self.answer.get(str(address), 0)
            if code is not None and (code or flags & NLM_F_ACK):
                answers.append(ack(sequence, code))
        for start in range(0, len(answers), self.per_read):
            self.reads.append(b"".join(answers[start : start + self.per_read]))
        if self.overrun_after is not None:
            self.reads.insert(*self.overrun_after)
        return len(data)

    def recv(self, size: int, /) -> bytes:
        self.recv_calls += 1
        if not self.reads:
            raise TimeoutError("timed out")
        answer = self.reads.popleft()
        if isinstance(answer, OSError):
            raise answer
        return answer

    def close(self) -> None:
        pass


def requests(count: int) -> list[Request]:
    return [
        Request(RTM_NEWADDR, 2, ipaddress.ip_interface(f"198.51.100.{i + 1}/24"))
        for i in range(count)
    ]


def errnos(outcomes: list[OSError | None]) -> list[int | None]:
    return [None if outcome is None else outcome.errno for outcome in outcomes]


def test_each_request_gets_its_outcome_from_failures_and_one_ack_per_window() -> None:
    failing = {"198.51.100.3/24": errno.EEXIST, "198.51.100.6/24": errno.EPERM}
    kernel = ScriptedKernel(failing)
    pipe = AddressPipe(kernel, window=3)
    outcomes = pipe.run(requests(7))
    assert [len(window) for window in kernel.sent] == [3, 3, 1]
    sequences = [sequence for window in kernel.sent for sequence, _flags, _address in window]
    assert sequences == list(range(1, 8))  # one sequence number per request, never reused
    # Only the last request of a window asks for an acknowledgement.
    acked = [bool(flags & NLM_F_ACK) for window in kernel.sent for _seq, flags, _a in window]
    assert acked == [False, False, True, False, False, True, True]
    assert errnos(outcomes) == [None, None, errno.EEXIST, None, None, errno.EPERM, None]
    assert str(outcomes[2]) == "[Errno 17] netlink: EEXIST"
    assert kernel.recv_calls == 3  # the answers of a window came in one read each
    assert pipe.run(requests(1)) == [None]
    assert kernel.sent[-1][0][0] == 8


def test_answers_spread_over_several_reads_are_all_collected() -> None:
    failing = {f"198.51.100.{i}/24": errno.EADDRNOTAVAIL for i in (1, 2, 4)}
    kernel = ScriptedKernel(failing, per_read=1)
    outcomes = AddressPipe(kernel, window=8).run(requests(5))
    assert errnos(outcomes) == [errno.EADDRNOTAVAIL] * 2 + [None, errno.EADDRNOTAVAIL, None]
    assert kernel.recv_calls == 4


def test_a_late_answer_to_an_earlier_window_is_not_taken_for_a_new_one() -> None:
    # The first window's answer went missing: it timed out; then that answer turns up,
    # claiming failure, ahead of the second window's own.
    kernel = ScriptedKernel({"198.51.100.1/24": None})
    pipe = AddressPipe(kernel)
    (lost,) = pipe.run(requests(1))
    assert isinstance(lost, TimeoutError)
    kernel.answer = {}
    kernel.reads.append(ack(1, errno.EPERM))
    assert pipe.run(requests(2)) == [None, None]


def test_without_the_closing_ack_only_the_failures_heard_are_known() -> None:
    kernel = ScriptedKernel({"198.51.100.2/24": errno.EEXIST, "198.51.100.5/24": None})
    outcomes = AddressPipe(kernel, window=8).run(requests(5))
    assert isinstance(outcomes[1], OSError)
    assert outcomes[1].errno == errno.EEXIST
    # Not answered: success or not, nobody can tell; never reported as done.
    assert all(isinstance(outcomes[i], TimeoutError) for i in (0, 2, 3, 4))


def test_answers_lost_to_a_full_buffer_leave_the_unanswered_unknown() -> None:
    kernel = ScriptedKernel({"198.51.100.1/24": errno.EEXIST}, per_read=1)
    overrun = OSError(errno.ENOBUFS, "No buffer space available")
    kernel.overrun_after = (1, overrun)  # the first answer is read, then the socket overran
    outcomes = AddressPipe(kernel, window=4).run(requests(3))
    assert errnos(outcomes) == [errno.EEXIST, errno.ENOBUFS, errno.ENOBUFS]


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
    assert [sequence for sequence, _flags, _address in kernel.sent[0]] == [0x7FFFFFFF, 0, 1, 2]
