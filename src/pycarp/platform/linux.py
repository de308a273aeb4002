"""The real Linux platform: raw sockets, netlink (pyroute2) and ARP/NA, bundled for the daemon."""

from __future__ import annotations

from pycarp.platform.ports import AddressManager, Platform


def linux_platform() -> Platform:
    """Imported lazily so that tools which never touch the network (decode, simulate) stay light."""
    from pycarp.platform.announce import LinuxAnnouncer
    from pycarp.platform.netlink import NetlinkAddressManager, NetlinkLinkWatcher
    from pycarp.platform.rawsock import open_advert_socket
    from pycarp.platform.vmac import LinuxVirtualMacs

    addresses = NetlinkAddressManager()
    return Platform(
        open_socket=open_advert_socket,
        addresses=addresses,
        announcer=LinuxAnnouncer(),
        open_link_watcher=NetlinkLinkWatcher,
        read_link=addresses.link_state,
        virtual_macs=LinuxVirtualMacs(),
    )


def linux_address_manager() -> AddressManager:
    """Just the netlink address manager: for the start-up check, before the daemon runs."""
    from pycarp.platform.netlink import NetlinkAddressManager

    return NetlinkAddressManager()
