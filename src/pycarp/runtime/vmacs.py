"""The daemon's virtual-MAC groups: their macvlans and send sockets, from start to exit.

A ``vmac`` group differs from others in two places only: its addresses go on its own
interface, and its adverts leave from there (so their source MAC is the virtual one, what
FreeBSD's tests check). Receiving stays on the parent's shared socket. Keeping this here keeps
the daemon's start/stop paths the same for every group.
"""

from __future__ import annotations

import asyncio
import typing

from pycarp.config.model import GroupConfig
from pycarp.observe import facts
from pycarp.observe.stream import EventStream
from pycarp.platform.ports import AdvertSocket, Platform
from pycarp.platform.vmac import virtual_mac


class VirtualMacError(RuntimeError):
    """A group asked for a virtual MAC the platform cannot give (fatal for that group)."""


class Attached(typing.NamedTuple):
    interface: str  # where the addresses go
    sender: AdvertSocket  # what the adverts leave through


class VirtualMacGroups:
    def __init__(self, platform: Platform, stream: EventStream) -> None:
        self._platform = platform
        self._stream = stream
        self._attached: dict[tuple[str, int], Attached] = {}

    async def attach(self, group: GroupConfig) -> Attached:
        macs = self._platform.virtual_macs
        if macs is None:
            raise VirtualMacError(f"{group.name}: vmac is not available on this platform")
        settings = group.settings
        source = settings.source
        assert source is not None  # the config builder requires one
        # RFC 9568 §7.3: VRRP over IPv6 has its own block; CARP uses 00:00:5e:00:01 for both.
        mac = virtual_mac(settings.vhid, vrrp_ipv6=settings.vrrp and source.version == 6)
        name, changed = await asyncio.to_thread(macs.attach, group.interface, settings.vhid, mac)
        sender = await asyncio.to_thread(macs.open_sender, name, source)
        attached = self._attached[group.key] = Attached(name, sender)
        self._stream.publish(
            facts.VirtualMacAttached(
                group=group.name,
                vhid=settings.vhid,
                interface=group.interface,
                vmac_interface=name,
                mac=mac,
                settings_changed=changed,
            )
        )
        return attached

    async def detach(self, key: tuple[str, int]) -> None:
        """After the group's addresses are gone: close its sender, remove its interface."""
        attached = self._attached.pop(key, None)
        macs = self._platform.virtual_macs
        if attached is None or macs is None:
            return
        attached.sender.close()
        await asyncio.to_thread(macs.detach, attached.interface)

    def close(self) -> None:
        """At exit (also after a failure): every interface removed, host settings restored."""
        for attached in self._attached.values():
            attached.sender.close()
        self._attached.clear()
        if self._platform.virtual_macs is not None:
            self._platform.virtual_macs.close()
