"""Addresses and link state over rtnetlink: the only module that imports pyroute2.

pyroute2 is used for what it is best at, decoding link state and address dumps (``ifinfmsg``,
``ifaddrmsg``); address changes, the takeover hot path, are packed by hand and pipelined in
``rtnl_address`` (pyroute2's encoding and decoding was 0.35 ms of each). The sockets are our
own. Why not pyroute2's ``IPRoute``: since 0.9 it keeps its socket and an
asyncio loop per *thread*, cannot be built on a thread whose event loop is running, and with
``netns=`` forks a child (which may even create the namespace). Our needs are four requests
and one subscription, so a plain ``AF_NETLINK`` socket per object is simpler and predictable:

* sockets are opened in the network namespace of the thread that constructs the object, and
  stay there, whichever thread calls later;
* every request is serialised by a lock and bounded by a timeout, so worker threads can share
  one manager.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import itertools
import socket
import threading
import typing

from pyroute2.netlink import (
    NLM_F_ACK,
    NLM_F_CREATE,
    NLM_F_DUMP,
    NLM_F_EXCL,
    NLM_F_REQUEST,
    NLMSG_DONE,
    NLMSG_ERROR,
)
from pyroute2.netlink.rtnl import (
    RTM_DELLINK,
    RTM_GETADDR,
    RTM_GETLINK,
    RTM_NEWLINK,
    RTMGRP_LINK,
)
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
from pyroute2.netlink.rtnl.marshal import MarshalRtnl

from pycarp.core.constants import IPInterface
from pycarp.platform.ports import AddressChange, LinkState
from pycarp.platform.rtnl_address import RTM_DELADDR, RTM_NEWADDR, AddressPipe, Request

_IFF_UP = 0x1
_IFF_LOWER_UP = 0x10000
_RECV_SIZE = 1 << 16
_REQUEST_TIMEOUT = 5.0
_SOL_NETLINK = getattr(socket, "SOL_NETLINK", 270)
_NETLINK_GET_STRICT_CHK = 12

Message = typing.Any  # a decoded pyroute2 nlmsg; only read through .get/.get_attr here


def _has_carrier(flags: int) -> bool:
    """Administratively up and the driver reports carrier (what ``ip link`` shows as UP)."""
    return bool(flags & _IFF_UP) and bool(flags & _IFF_LOWER_UP)


class _Channel:
    """One rtnetlink socket: request/response with sequence numbers, under a lock."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
        self._sock.bind((0, 0))
        self._sock.settimeout(_REQUEST_TIMEOUT)
        # Strict checking makes the kernel honour the filters of a dump request (the
        # interface index of RTM_GETADDR): one interface's addresses, not every address of
        # the host to decode and drop (0.5 s per interface with 10,000 addresses). Linux 4.20+;
        # on older kernels the replies are filtered here, as they always are.
        with contextlib.suppress(OSError):
            self._sock.setsockopt(_SOL_NETLINK, _NETLINK_GET_STRICT_CHK, 1)
        self._marshal = MarshalRtnl()
        self._sequence = itertools.count(1)
        self._lock = threading.Lock()

    def request(self, message: Message, message_type: int, flags: int) -> list[Message]:
        """Send one request; return its replies. Kernel errors become OSError(errno)."""
        with self._lock:
            sequence = next(self._sequence) & 0xFFFFFFFF
            message["header"]["type"] = message_type
            message["header"]["flags"] = NLM_F_REQUEST | flags
            message["header"]["sequence_number"] = sequence
            message.encode()
            self._sock.send(message.data)
            replies: list[Message] = []
            while True:
                for reply in self._marshal.parse(self._sock.recv(_RECV_SIZE)):
                    header = reply["header"]
                    if header["sequence_number"] != sequence:
                        continue  # a late answer to a request that timed out
                    if header["type"] == NLMSG_DONE:
                        return replies
                    if header["type"] == NLMSG_ERROR:
                        code = -int(reply.get("error") or 0)
                        if code:
                            raise OSError(code, f"netlink: {errno.errorcode.get(code, code)}")
                        return replies  # the ACK
                    replies.append(reply)
                    if not flags & NLM_F_DUMP and not flags & NLM_F_ACK:
                        return replies

    def link(self, interface: str) -> Message:
        """The interface's RTM_NEWLINK; OSError(ENODEV) naming it when there is none."""
        query = ifinfmsg()
        query["attrs"] = [("IFLA_IFNAME", interface)]
        try:
            replies = self.request(query, RTM_GETLINK, 0)
        except OSError as error:
            if error.errno != errno.ENODEV:
                raise
            replies = []
        if not replies:
            raise OSError(errno.ENODEV, f"no interface {interface}")
        return replies[0]

    def links(self) -> list[Message]:
        return self.request(ifinfmsg(), RTM_GETLINK, NLM_F_DUMP)

    def close(self) -> None:
        self._sock.close()


class NetlinkAddressManager:
    """AddressManager over rtnetlink. Blocking; safe to share between worker threads.

    Address changes take the hand-packed, pipelined path of :mod:`rtnl_address` (the takeover
    hot path); link lookups and address dumps are decoded by pyroute2.
    """

    def __init__(self) -> None:
        self._channel = _Channel()
        self._pipe = AddressPipe()
        # Interface indexes, looked up over this channel (so in its namespace) once: a lookup
        # per address doubled the cost of 1,000 simultaneous takeovers (bench/scale.py).
        self._indexes: dict[str, int] = {}

    def _index(self, interface: str) -> int:
        if interface not in self._indexes:
            self._indexes[interface] = self._channel.link(interface)["index"]
        return self._indexes[interface]

    def add(self, interface: str, address: IPInterface) -> bool:
        return _raise_error(self.apply([AddressChange(True, interface, address)])[0])

    def remove(self, interface: str, address: IPInterface) -> bool:
        return _raise_error(self.apply([AddressChange(False, interface, address)])[0])

    def apply(self, changes: typing.Sequence[AddressChange]) -> list[bool | OSError]:
        """Carry out every change, in order; per change what ``add``/``remove`` would return,
        or the OSError they would raise. An error on one never stops the others.

        A change refused with ENODEV or EINVAL may have used a stale cached index (the
        interface was re-created): it is retried once, after a fresh lookup.
        """
        outcomes = self._send(changes, range(len(changes)))
        stale = [
            i
            for i, outcome in enumerate(outcomes)
            if isinstance(outcome, OSError) and outcome.errno in (errno.ENODEV, errno.EINVAL)
        ]
        for i in stale:
            self._indexes.pop(changes[i].interface, None)
        for i, outcome in zip(stale, self._send(changes, stale), strict=True):
            outcomes[i] = outcome
        return outcomes

    def _send(
        self, changes: typing.Sequence[AddressChange], chosen: typing.Iterable[int]
    ) -> list[bool | OSError]:
        """The chosen changes in one pipelined run; the outcomes in the order chosen."""
        chosen = list(chosen)
        outcomes: list[bool | OSError] = [True] * len(chosen)
        requests: list[Request] = []
        sent: list[int] = []  # positions in ``chosen`` of the requests
        for position, i in enumerate(chosen):
            change = changes[i]
            try:
                index = self._index(change.interface)
            except OSError as error:
                outcomes[position] = error
                continue
            kind = RTM_NEWADDR if change.add else RTM_DELADDR
            requests.append(Request(kind, index, change.address))
            sent.append(position)
        for position, refusal in zip(sent, self._pipe.run(requests), strict=True):
            if refusal is None:
                continue
            absent = errno.EEXIST if changes[chosen[position]].add else errno.EADDRNOTAVAIL
            outcomes[position] = False if refusal.errno == absent else refusal
        return outcomes

    def addresses(self, interface: str) -> set[IPInterface]:
        index = self._channel.link(interface)["index"]
        found: set[IPInterface] = set()
        query = ifaddrmsg()
        query["index"] = index  # a filter under strict checking (see _Channel)
        for reply in self._channel.request(query, RTM_GETADDR, NLM_F_DUMP):
            if reply["index"] != index:
                continue
            # IPv4: IFA_LOCAL is our address (IFA_ADDRESS is the peer on point-to-point).
            ip = reply.get_attr("IFA_LOCAL") or reply.get_attr("IFA_ADDRESS")
            if ip:
                found.add(ipaddress.ip_interface(f"{ip}/{reply['prefixlen']}"))
        return found

    def carrier(self, interface: str) -> bool:
        return _has_carrier(self._channel.link(interface)["flags"])

    def link_state(self, interface: str) -> LinkState:
        """Carrier and operational state, for an interface health track."""
        link = self._channel.link(interface)
        operstate = link.get_attr("IFLA_OPERSTATE")
        return LinkState(_has_carrier(link["flags"]), str(operstate or "UNKNOWN"))

    def close(self) -> None:
        self._channel.close()
        self._pipe.close()


def _raise_error(outcome: bool | OSError) -> bool:
    if isinstance(outcome, OSError):
        raise outcome
    return outcome


class NetlinkLinkWatcher:
    """LinkWatcher over rtnetlink's link group: reports carrier *changes* only.

    The kernel sends RTM_NEWLINK for many reasons (MTU, statistics, flags); a last-known state
    per interface, seeded from a dump, turns that stream into real transitions. When the
    socket overflows (ENOBUFS: events were lost), the state is re-read and the differences
    are reported, so no transition is ever silently missed.
    """

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
        self._sock.bind((0, RTMGRP_LINK))  # subscribe first, then dump: no gap in between
        self._sock.setblocking(False)
        self._marshal = MarshalRtnl()
        self._lock = threading.Lock()
        self._channel = _Channel()
        self._known: dict[str, bool] = {}
        self._resync()

    def fileno(self) -> int:
        return self._sock.fileno()

    def read(self) -> list[tuple[str, bool]]:
        changes: list[tuple[str, bool]] = []
        with self._lock:
            while True:
                try:
                    data = self._sock.recv(_RECV_SIZE)
                except (BlockingIOError, InterruptedError):
                    return changes
                except OSError as exc:
                    if exc.errno != errno.ENOBUFS:
                        raise
                    changes += self._resync()
                    continue
                for message in self._marshal.parse(data):
                    change = self._apply(message)
                    if change is not None:
                        changes.append(change)

    def _apply(self, message: Message) -> tuple[str, bool] | None:
        kind = message["header"]["type"]
        name = message.get_attr("IFLA_IFNAME")
        if kind not in (RTM_NEWLINK, RTM_DELLINK) or not name:
            return None
        carrier = kind == RTM_NEWLINK and _has_carrier(message["flags"])
        previous = self._known.pop(name, False)  # unknown counts as down
        if kind == RTM_NEWLINK:
            self._known[name] = carrier
        return None if previous == carrier else (name, carrier)

    def _resync(self) -> list[tuple[str, bool]]:
        current = {
            link.get_attr("IFLA_IFNAME"): _has_carrier(link["flags"])
            for link in self._channel.links()
        }
        changes = [(name, up) for name, up in current.items() if self._known.get(name, False) != up]
        changes += [(name, False) for name, up in self._known.items() if up and name not in current]
        self._known = current
        return changes

    def close(self) -> None:
        self._sock.close()
        self._channel.close()


_MACVLAN_MODE_PRIVATE = 1  # no traffic between macvlans of one parent (keepalived's choice)


class NetlinkLinks:
    """Create, bring up and delete the macvlan interfaces of virtual-MAC groups."""

    def __init__(self) -> None:
        self._channel = _Channel()

    def create_macvlan(self, parent: str, name: str, mac: str) -> int:
        """A private-mode macvlan ``name`` on ``parent`` with address ``mac``, left down;
        returns its index. OSError(EEXIST) when an interface of that name exists."""
        message = ifinfmsg()
        message["attrs"] = [
            ("IFLA_IFNAME", name),
            ("IFLA_LINK", self._channel.link(parent)["index"]),
            ("IFLA_ADDRESS", mac),
            (
                "IFLA_LINKINFO",
                {
                    "attrs": [
                        ("IFLA_INFO_KIND", "macvlan"),
                        (
                            "IFLA_INFO_DATA",
                            {"attrs": [("IFLA_MACVLAN_MODE", _MACVLAN_MODE_PRIVATE)]},
                        ),
                    ]
                },
            ),
        ]
        self._channel.request(message, RTM_NEWLINK, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL)
        return int(self._channel.link(name)["index"])

    def set_up(self, name: str) -> None:
        message = ifinfmsg()
        message["index"] = self._channel.link(name)["index"]
        message["flags"] = _IFF_UP
        message["change"] = _IFF_UP
        self._channel.request(message, RTM_NEWLINK, NLM_F_ACK)

    def delete(self, name: str) -> bool:
        """Remove the interface; False when it was already gone."""
        try:
            message = ifinfmsg()
            message["index"] = self._channel.link(name)["index"]
            self._channel.request(message, RTM_DELLINK, NLM_F_ACK)
        except OSError as error:
            if error.errno != errno.ENODEV:
                raise
            return False
        return True

    def mac(self, name: str) -> str:
        return str(self._channel.link(name).get_attr("IFLA_ADDRESS"))

    def parent_index(self, name: str) -> int | None:
        link = self._channel.link(name).get_attr("IFLA_LINK")
        return None if link is None else int(link)

    def close(self) -> None:
        self._channel.close()
