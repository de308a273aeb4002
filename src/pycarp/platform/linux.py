"""The real Linux platform: raw sockets, netlink (pyroute2) and ARP/NA, bundled for the daemon."""

from __future__ import annotations

from pycarp.platform.ports import Platform


def linux_platform() -> Platform:
    """Imported lazily so that tools which never touch the network (decode, simulate) stay light."""
    from pycarp.platform.announce import LinuxAnnouncer
    from pycarp.platform.netlink import NetlinkAddressManager, NetlinkLinkWatcher
    from pycarp.platform.rawsock import open_advert_socket

    return Platform(
        open_socket=open_advert_socket,
        addresses=NetlinkAddressManager(),
        announcer=LinuxAnnouncer(),
        open_link_watcher=NetlinkLinkWatcher,
    )
