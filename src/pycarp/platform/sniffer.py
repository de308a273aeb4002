"""A read-only packet socket for ``pycarp watch -i``: frames with kernel timestamps, never sends.

Why this shape:

* ``AF_PACKET`` sees every frame on the interface before IP does, including adverts this host
  does not listen to (it need not run CARP at all) and the ARP/ND announcements that reveal a
  group's addresses. Opening it needs CAP_NET_RAW and nothing else.
* ``PACKET_MR_ALLMULTI`` membership: without it, a NIC's multicast filter may drop frames to
  224.0.0.18 / ff02::12 when nothing on the host joined those groups. It is undone when the
  socket closes (it is a membership of this socket, not an interface flag).
* A classic BPF filter keeps everything but protocol-112, ARP and ICMPv6 in the kernel, so a
  busy link costs this process nothing for the frames it does not want.
* ``SO_TIMESTAMPNS``: the time the kernel received the frame, so measured intervals and gaps
  do not include this process's scheduling delays (they match a tcpdump on the same link).
"""

from __future__ import annotations

import ctypes
import socket
import struct

from pycarp import pcap
from pycarp.platform import stamps

ETH_P_ALL = 0x0003
_SOL_PACKET = 263
_PACKET_ADD_MEMBERSHIP = 1
_PACKET_MR_ALLMULTI = 2
_SO_ATTACH_FILTER = 26
_ARPHRD_ETHER = 1
_ARPHRD_LOOPBACK = 772
MAX_FRAME = 65535

# (code, jt, jf, k): ethertype IPv4 -> protocol 112; IPv6 -> next header 112 or 58; ARP.
_FILTER = (
    (0x28, 0, 0, 12),  # ldh [12]           ethertype
    (0x15, 3, 0, 0x0800),  # jeq IPv4 -> 5
    (0x15, 4, 0, 0x86DD),  # jeq IPv6 -> 7
    (0x15, 7, 0, 0x0806),  # jeq ARP -> accept
    (0x06, 0, 0, 0),  # drop
    (0x30, 0, 0, 23),  # ldb [23]           IPv4 protocol
    (0x15, 4, 3, 112),  # jeq 112 -> accept, else drop
    (0x30, 0, 0, 20),  # ldb [20]           IPv6 next header
    (0x15, 2, 0, 112),  # jeq 112 -> accept
    (0x15, 1, 0, 58),  # jeq ICMPv6 -> accept
    (0x06, 0, 0, 0),  # drop
    (0x06, 0, 0, MAX_FRAME),  # accept
)


class SnifferError(OSError):
    """The interface cannot be watched; the message is the one line for the operator."""


class Sniffer:
    """``with Sniffer("eth0") as s: s.receive(0.2)`` -> (time, linktype, frame) or None."""

    def __init__(self, interface: str) -> None:
        try:
            index = socket.if_nametoindex(interface)
        except OSError:
            raise SnifferError(f"no interface named {interface!r}") from None
        try:
            self._socket = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        except PermissionError:
            raise SnifferError(
                "opening a packet socket needs CAP_NET_RAW (run as root, or "
                "setcap cap_net_raw+ep on the interpreter, or AmbientCapabilities=CAP_NET_RAW)"
            ) from None
        try:
            self._socket.bind((interface, ETH_P_ALL))
            hatype = self._socket.getsockname()[3]
            ethernet = hatype in (_ARPHRD_ETHER, _ARPHRD_LOOPBACK)
            self.linktype = pcap.LINKTYPE_ETHERNET if ethernet else pcap.LINKTYPE_RAW
            if ethernet:
                self._attach_filter()
            membership = struct.pack("iHH8s", index, _PACKET_MR_ALLMULTI, 0, b"")
            self._socket.setsockopt(_SOL_PACKET, _PACKET_ADD_MEMBERSHIP, membership)
            stamps.enable(self._socket)
        except OSError as error:
            self._socket.close()
            raise SnifferError(f"cannot watch {interface}: {error.strerror}") from None

    def _attach_filter(self) -> None:
        program = b"".join(struct.pack("HBBI", *insn) for insn in _FILTER)
        self._program = ctypes.create_string_buffer(program)  # kept alive with the socket
        fprog = struct.pack("HL", len(_FILTER), ctypes.addressof(self._program))
        self._socket.setsockopt(socket.SOL_SOCKET, _SO_ATTACH_FILTER, fprog)

    def receive(self, timeout: float) -> tuple[float, bytes] | None:
        """The next frame and its kernel receive time, or None after ``timeout`` seconds."""
        self._socket.settimeout(timeout)
        try:
            frame, ancillary, _flags, _address = self._socket.recvmsg(MAX_FRAME, 64)
        except TimeoutError:
            return None
        return stamps.stamp_or_now(ancillary), frame

    def close(self) -> None:
        self._socket.close()

    def __enter__(self) -> Sniffer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
