"""Virtual MACs: each ``vmac = true`` group on a macvlan with 00:00:5e:00:01:<vhid>.

Why: without one, a takeover changes the MAC behind the address, and clients keep sending to
the old master until the new one's gratuitous ARP / unsolicited NA reaches them (some ignore
it). With the group's own MAC (FreeBSD CARP always, keepalived ``use_vmac``) the address never
changes hands at layer 2: the new master's first advert teaches the switch the new port, and
clients' ARP/ND entries stay valid.

How: one macvlan per group, ``<parent>.c<vhid>``, private mode, created at group start and up on
every node. Only the master puts addresses on it and sends from it (adverts, gratuitous ARP,
NA), so only the master's port ever emits the virtual MAC. The macvlan has no IPv6 link-local
address (``addr_gen_mode`` none): a backup's idle macvlan must stay silent.

What it needs from the host, set only when not already so and put back at exit:

* the parent's ``arp_ignore`` >= 1: otherwise the parent answers ARP for an address that lives
  on the macvlan, with its own MAC;
* the parent's ``arp_announce`` = 2: otherwise the parent's ARP requests for traffic sent from
  the virtual address carry it with the parent's MAC, and every client that hears one caches
  the wrong MAC;
* on the macvlan (our own interface, gone with it): loose ``rp_filter`` when the host's is
  strict, since replies to a client leave through the parent.

A crash (kill -9) leaves the parent's settings as set; the next start finds them and leaves
them alone (documented in docs/behaviour.md).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import pathlib
import zlib

from pycarp.core.constants import CARP_GROUP_V4, CARP_GROUP_V6, IPAddress
from pycarp.platform.ports import AdvertSocket

log = logging.getLogger(__name__)

IFNAMSIZ = 16  # including the terminating NUL
CARP_VMAC_PREFIX = "00:00:5e:00:01"  # IANA's VRRP IPv4 block, used by FreeBSD CARP for all
VRRP_V6_VMAC_PREFIX = "00:00:5e:00:02"  # RFC 9568 §7.3: VRRP over IPv6


def virtual_mac(vhid: int, *, vrrp_ipv6: bool = False) -> str:
    """The group's MAC: ``00:00:5e:00:01:<vhid>`` (``...:02:<vrid>`` for VRRP over IPv6)."""
    if not 1 <= vhid <= 255:
        raise ValueError(f"vhid {vhid} is not 1..255")
    return f"{VRRP_V6_VMAC_PREFIX if vrrp_ipv6 else CARP_VMAC_PREFIX}:{vhid:02x}"


def interface_name(parent: str, vhid: int) -> str:
    """``<parent>.c<vhid>`` when it fits Linux's 15 characters, else ``carp<vhid>x<hash>``
    (the hash of the parent's name keeps two long parents apart)."""
    name = f"{parent}.c{vhid}"
    if len(name) < IFNAMSIZ:
        return name
    return f"carp{vhid}x{zlib.crc32(parent.encode()) & 0xFFFF:04x}"


class Sysctls:
    """Raise per-interface IPv4/IPv6 settings under ``root`` (``/proc/sys``), remember what
    was there, and put it back. Linux uses max(all, interface) for the settings changed here,
    so a value already reached through ``all`` is left alone."""

    def __init__(self, root: pathlib.Path = pathlib.Path("/proc/sys")) -> None:
        self._root = root
        self._saved: dict[pathlib.Path, str] = {}

    def _path(self, family: str, interface: str, key: str) -> pathlib.Path:
        return self._root / "net" / family / "conf" / interface / key

    def read(self, family: str, interface: str, key: str) -> int | None:
        try:
            return int(self._path(family, interface, key).read_text().strip())
        except (OSError, ValueError):
            return None

    def effective(self, interface: str, key: str) -> int:
        """The IPv4 value Linux applies: the larger of ``all`` and the interface's."""
        return max(self.read("ipv4", "all", key) or 0, self.read("ipv4", interface, key) or 0)

    def raise_to(self, interface: str, key: str, value: int, *, restore: bool = True) -> bool:
        """Make the effective IPv4 ``key`` at least ``value``; True when something changed."""
        if self.effective(interface, key) >= value:
            return False
        self.write("ipv4", interface, key, value, restore=restore)
        return True

    def write(self, family: str, interface: str, key: str, value: int, *, restore: bool) -> None:
        path = self._path(family, interface, key)
        old = path.read_text().strip()
        path.write_text(f"{value}\n")
        if restore and path not in self._saved:
            self._saved[path] = old

    def restore(self) -> None:
        """Put back every remembered value, newest first; a vanished interface is skipped."""
        for path, old in reversed(list(self._saved.items())):
            try:
                path.write_text(f"{old}\n")
            except OSError as error:
                if error.errno != errno.ENOENT:
                    log.error("cannot restore %s to %s: %s", path, old, error)
        self._saved.clear()

    @property
    def changed(self) -> dict[str, str]:
        """What would be restored, by path relative to the root (for tests and status)."""
        return {str(p.relative_to(self._root)): old for p, old in self._saved.items()}


class LinuxVirtualMacs:
    """:class:`~pycarp.platform.ports.VirtualMacs` with macvlans over rtnetlink."""

    def __init__(self, sysctls: Sysctls | None = None) -> None:
        from pycarp.platform.netlink import NetlinkLinks

        self._links = NetlinkLinks()
        self._sysctls = sysctls or Sysctls()
        self._attached: set[str] = set()

    def attach(self, parent: str, vhid: int, mac: str) -> tuple[str, tuple[str, ...]]:
        name = interface_name(parent, vhid)
        self._links.delete(name)  # left by a crash: its stale addresses go with it
        self._links.create_macvlan(parent, name, mac)
        self._attached.add(name)
        sysctls = self._sysctls
        with contextlib.suppress(OSError):  # no IPv6 on this host: nothing to silence
            sysctls.write("ipv6", name, "addr_gen_mode", 1, restore=False)
        if sysctls.effective(name, "rp_filter") == 1:  # strict would drop clients' traffic
            sysctls.write("ipv4", name, "rp_filter", 2, restore=False)
        changed = tuple(
            f"net.ipv4.conf.{parent}.{key}={value}"
            for key, value in (("arp_ignore", 1), ("arp_announce", 2))
            if sysctls.raise_to(parent, key, value)
        )
        self._links.set_up(name)
        return name, changed

    def open_sender(self, interface: str, source: IPAddress) -> AdvertSocket:
        from pycarp.platform.rawsock import open_advert_socket

        # An explicit destination: send-only, no group joined (the parent's socket receives).
        group = CARP_GROUP_V4 if source.version == 4 else CARP_GROUP_V6
        return open_advert_socket(interface, source, destination=group)

    def detach(self, interface: str) -> None:
        self._attached.discard(interface)
        self._links.delete(interface)

    def close(self) -> None:
        for name in sorted(self._attached):
            try:
                self._links.delete(name)
            except OSError as error:
                log.error("%s: cannot remove: %s", name, error)
        self._attached.clear()
        self._sysctls.restore()
        self._links.close()
