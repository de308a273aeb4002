"""The Linux adapters against the real kernel, each host's sockets opened inside its namespace."""

from __future__ import annotations

import ipaddress
import select
import time
import typing

import pytest

from pycarp.core.constants import CARP_GROUP_V4, CARP_GROUP_V6
from pycarp.lab import Lab
from pycarp.lab.programs import check_status
from pycarp.platform import stamps
from pycarp.platform.announce import LinuxAnnouncer
from pycarp.platform.netlink import NetlinkAddressManager, NetlinkLinkWatcher
from pycarp.platform.ports import (
    AddressChange,
    AddressManager,
    AdvertSocket,
    Announcer,
    LinkWatcher,
)
from pycarp.platform.rawsock import open_advert_socket
from pycarp.platform.rtnl_address import WINDOW

PAYLOAD = bytes(range(36))
VIRTUAL_V4 = ipaddress.IPv4Interface("198.51.100.100/24")
VIRTUAL_V6 = ipaddress.IPv6Interface("2001:db8::100/64")
WAIT = 2.0  # seconds: generous upper bound for anything on a local bridge


class Readable(typing.Protocol):
    def fileno(self) -> int: ...


def wait_readable(source: Readable, timeout: float = WAIT) -> bool:
    return bool(select.select([source], [], [], timeout)[0])


def advert_socket(
    lab: Lab, node: str, *, v6: bool = False, destination: str | None = None
) -> AdvertSocket:
    """The node's advert socket, sending from the node's own address (unicast to a peer)."""
    source = lab.ipv6(node).ip if v6 else lab.ipv4(node).ip
    peer = None
    if destination is not None:
        peer = lab.ipv6(destination).ip if v6 else lab.ipv4(destination).ip
    with lab.inside(node):
        return open_advert_socket(lab.interface, source, destination=peer)


@pytest.mark.parametrize("v6", [False, True], ids=["ipv4", "ipv6"])
def test_advert_reaches_peer_with_ttl_255_source_and_payload(lab: Lab, v6: bool) -> None:
    sender, receiver = advert_socket(lab, "h1", v6=v6), advert_socket(lab, "h2", v6=v6)
    try:
        sender.send(PAYLOAD)
        assert wait_readable(receiver)
        packet = receiver.receive()
        assert packet is not None
        assert packet.payload == PAYLOAD
        assert packet.ttl == 255
        assert packet.source == (lab.ipv6("h1").ip if v6 else lab.ipv4("h1").ip)
        assert packet.destination == (CARP_GROUP_V6 if v6 else CARP_GROUP_V4)
        assert packet.interface == "eth0"
        assert receiver.receive() is None  # exactly one, and receive never blocks
        # Multicast loop is off: the sender does not hear itself.
        assert not wait_readable(sender, 0.2)
        assert sender.receive() is None
    finally:
        sender.close()
        receiver.close()


@pytest.mark.parametrize("v6", [False, True], ids=["ipv4", "ipv6"])
def test_source_is_the_configured_address_not_the_primary(lab: Lab, v6: bool) -> None:
    """Not bound, yet the source is pinned (per-packet PKTINFO) to what was configured."""
    secondary = ipaddress.ip_interface("2001:db8::7/64" if v6 else "198.51.100.7/24")
    lab.exec("h1", ["ip", "addr", "add", str(secondary), "dev", "eth0"], check=True)
    with lab.inside("h1"):
        sender = open_advert_socket("eth0", secondary.ip)
    receiver = advert_socket(lab, "h2", v6=v6)
    try:
        sender.send(PAYLOAD)
        assert wait_readable(receiver)
        packet = receiver.receive()
        assert packet is not None
        assert packet.source == secondary.ip
    finally:
        sender.close()
        receiver.close()


@pytest.mark.parametrize("v6", [False, True], ids=["ipv4", "ipv6"])
def test_unicast_mode_sends_to_the_peer_only(lab: Lab, v6: bool) -> None:
    sender = advert_socket(lab, "h1", v6=v6, destination="h2")
    peer, bystander = advert_socket(lab, "h2", v6=v6), advert_socket(lab, "h3", v6=v6)
    try:
        sender.send(PAYLOAD)
        assert wait_readable(peer)
        packet = peer.receive()
        assert packet is not None
        assert packet.destination == (lab.ipv6("h2").ip if v6 else lab.ipv4("h2").ip)
        assert packet.ttl == 255
        assert not wait_readable(bystander, 0.2)
        # An explicit destination overrides the default one for this packet.
        sender.send(PAYLOAD[::-1], lab.ipv6("h3").ip if v6 else lab.ipv4("h3").ip)
        assert wait_readable(bystander)
        received = bystander.receive()
        assert received is not None
        assert received.payload == PAYLOAD[::-1]
        # A unicast-mode socket joined no group: multicast adverts do not reach it.
        bystander.send(PAYLOAD)
        assert wait_readable(peer)
        assert not wait_readable(sender, 0.2)
    finally:
        for sock in (sender, peer, bystander):
            sock.close()


def test_ipv4_socket_ignores_packets_of_other_protocols_and_interfaces(lab: Lab) -> None:
    sender, receiver = advert_socket(lab, "h1"), advert_socket(lab, "h2")
    with lab.inside("h2"):
        on_lo = open_advert_socket("lo", ipaddress.IPv4Address("127.0.0.1"))
    try:
        ping = ["ping", "-c", "1", "-W", "1", str(lab.ipv4("h2").ip)]
        assert lab.exec("h1", ping).returncode == 0
        assert receiver.receive() is None
        sender.send(PAYLOAD)
        assert wait_readable(receiver)
        assert not wait_readable(on_lo, 0.2), "a socket hears only its own interface"
    finally:
        for sock in (sender, receiver, on_lo):
            sock.close()


def test_address_manager_is_idempotent(lab: Lab) -> None:
    with lab.inside("h1"):
        manager: AddressManager = NetlinkAddressManager()
    try:
        for address in (VIRTUAL_V4, VIRTUAL_V6):
            assert manager.add("eth0", address) is True
            assert manager.add("eth0", address) is False
            assert address in manager.addresses("eth0")
            assert address in lab.addresses("h1")
        assert lab.ipv4("h1") in manager.addresses("eth0")
        # The IPv6 virtual address is usable at once (no DAD): h2 can reach it.
        assert lab.exec("h2", ["ping", "-c", "1", "-W", "1", str(VIRTUAL_V6.ip)]).returncode == 0
        for address in (VIRTUAL_V4, VIRTUAL_V6):
            assert manager.remove("eth0", address) is True
            assert manager.remove("eth0", address) is False
            assert address not in manager.addresses("eth0")
        assert lab.virtual_addresses("h1") == []
        with pytest.raises(OSError, match=r"ENODEV|no interface"):
            manager.add("nosuch0", VIRTUAL_V4)
    finally:
        manager.close()


def test_a_batch_of_address_changes_gets_one_outcome_per_address(lab: Lab) -> None:
    """More changes than one netlink window, in one call: each address its own outcome (the
    same as add/remove one by one), a refusal in the middle stopping nothing."""
    v4 = [ipaddress.ip_interface(f"198.51.100.{i}/24") for i in range(100, 240)]
    v6 = [ipaddress.ip_interface(f"2001:db8::{i:x}/64") for i in range(0x100, 0x180)]
    wanted = v4 + v6
    assert len(wanted) > 2 * WINDOW
    with lab.inside("h1"):
        manager = NetlinkAddressManager()
    try:
        assert manager.add("eth0", v4[5]) is True  # already there when the batch comes
        changes = [AddressChange(True, "eth0", address) for address in wanted]
        changes.insert(7, AddressChange(True, "nosuch0", v4[0]))
        changes.insert(WINDOW + 3, AddressChange(False, "eth0", VIRTUAL_V6))  # never added
        outcomes = manager.apply(changes)
        refused = outcomes.pop(7)
        assert isinstance(refused, OSError)
        assert "no interface nosuch0" in str(refused)
        assert outcomes.pop(WINDOW + 2) is False
        assert outcomes == [address != v4[5] for address in wanted]
        assert set(wanted) <= set(lab.addresses("h1"))
        removal = manager.apply([AddressChange(False, "eth0", address) for address in wanted])
        assert removal == [True] * len(wanted)
        assert lab.virtual_addresses("h1") == []
    finally:
        manager.close()


def test_address_changes_follow_an_interface_that_was_re_created(lab: Lab) -> None:
    """The cached interface index goes stale when the interface is deleted and created again
    (a new index): the change is retried once with the new one."""
    dummy = "pcl-va"
    create = ["ip", "link", "add", dummy, "type", "veth", "peer", "name", "pcl-vb"]
    lab.exec("h1", create, check=True)
    with lab.inside("h1"):
        manager = NetlinkAddressManager()
    try:
        assert manager.add(dummy, VIRTUAL_V4) is True
        lab.exec("h1", ["ip", "link", "del", dummy], check=True)
        lab.exec("h1", create, check=True)
        assert manager.apply([AddressChange(True, dummy, a) for a in (VIRTUAL_V4, VIRTUAL_V6)]) == [
            True,
            True,
        ]
        assert manager.remove(dummy, VIRTUAL_V4) is True
    finally:
        manager.close()
        lab.exec("h1", ["ip", "link", "del", dummy])


def test_address_manager_reads_carrier(lab: Lab) -> None:
    with lab.inside("h1"):
        manager = NetlinkAddressManager()
    try:
        assert manager.carrier("eth0") is True
        lab.cut("h1")
        assert manager.carrier("eth0") is False
        lab.heal("h1")
        assert manager.carrier("eth0") is True
    finally:
        manager.close()


def test_link_watcher_reports_carrier_changes_once(lab: Lab) -> None:
    with lab.inside("h1"):
        watcher: LinkWatcher = NetlinkLinkWatcher()
    try:
        assert watcher.read() == []  # nothing pending, and read never blocks
        lab.cut("h1")
        assert collect_changes(watcher) == [("eth0", False)]
        lab.heal("h1")
        assert collect_changes(watcher) == [("eth0", True)]
        lab.cut("h2")  # another namespace: not ours to hear
        assert not wait_readable(watcher, 0.2)
    finally:
        watcher.close()


def collect_changes(watcher: LinkWatcher, settle: float = 0.1) -> list[tuple[str, bool]]:
    """Everything the watcher reports until it has been quiet for ``settle`` seconds."""
    changes: list[tuple[str, bool]] = []
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline and wait_readable(watcher, settle if changes else WAIT):
        changes += watcher.read()
    return changes


@pytest.mark.parametrize("v6", [False, True], ids=["arp", "neighbour-advert"])
def test_announcement_updates_the_peers_neighbour_entry(lab: Lab, v6: bool) -> None:
    virtual = VIRTUAL_V6 if v6 else VIRTUAL_V4
    # h2 believes the address lives elsewhere (as after a failover, before the announcement).
    elsewhere = "02:00:00:00:00:99"
    entry = ["ip", "neigh", "replace", str(virtual.ip), "lladdr", elsewhere, "dev", "eth0"]
    lab.exec("h2", [*entry, "nud", "stale"], check=True)
    lab.exec("h1", ["ip", "addr", "add", str(virtual), "dev", "eth0", "nodad"], check=True)
    announcer: Announcer = LinuxAnnouncer()
    with lab.inside("h1"):
        announcer.announce("eth0", [virtual.ip])
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline and lab.mac("h1") not in neighbour(lab, "h2", virtual):
        time.sleep(0.02)
    assert lab.mac("h1") in neighbour(lab, "h2", virtual)


def neighbour(
    lab: Lab, node: str, address: ipaddress.IPv4Interface | ipaddress.IPv6Interface
) -> str:
    return check_status(
        lab.exec(node, ["ip", "neigh", "show", str(address.ip), "dev", "eth0"])
    ).stdout


@pytest.mark.parametrize(
    ("v6", "group"), [(False, "224.0.0.218"), (True, "ff02::218")], ids=["ipv4", "ipv6"]
)
def test_a_socket_hears_another_multicast_group_once_it_joined_it(
    lab: Lab, v6: bool, group: str
) -> None:
    """``--mcast``: the shared socket (opened for CARP's group) joins the group's own."""
    other = ipaddress.ip_address(group)
    sender, receiver = advert_socket(lab, "h1", v6=v6), advert_socket(lab, "h2", v6=v6)
    try:
        sender.send(PAYLOAD, other)
        assert not wait_readable(receiver, 0.5)  # not a member yet: nothing arrives
        receiver.join(other)
        receiver.join(other)  # twice changes nothing
        sender.send(PAYLOAD, other)
        assert wait_readable(receiver)
        packet = receiver.receive()
        assert packet is not None
        assert (packet.payload, packet.destination, packet.ttl) == (PAYLOAD, other, 255)
        sender.send(PAYLOAD)  # CARP's own group is still heard
        assert wait_readable(receiver)
        carp = receiver.receive()
        assert carp is not None
        assert carp.destination == (CARP_GROUP_V6 if v6 else CARP_GROUP_V4)
    finally:
        sender.close()
        receiver.close()


@pytest.mark.parametrize("v6", [False, True], ids=["ipv4", "ipv6"])
def test_a_packet_says_how_long_it_waited_in_the_socket(lab: Lab, v6: bool) -> None:
    """The kernel's receive stamp dates a packet back to its arrival (the core starts a
    backup's timer from then); a wait beyond ``MAX_WAIT`` is not believed."""
    sender, receiver = advert_socket(lab, "h1", v6=v6), advert_socket(lab, "h2", v6=v6)
    try:
        # The first socket asking for stamps turns the kernel's receive stamping on through
        # deferred work; a packet arriving before that is stamped when it is read (age 0).
        # The daemon's sockets live long; here one packet and a pause let it happen first.
        sender.send(PAYLOAD)
        assert wait_readable(receiver)
        assert receiver.receive() is not None
        time.sleep(0.1)
        sender.send(PAYLOAD)
        assert wait_readable(receiver)
        time.sleep(0.02)
        read_at = time.monotonic()
        packet = receiver.receive()
        assert packet is not None
        assert packet.arrived is not None
        assert 0.02 <= read_at - packet.arrived < stamps.MAX_WAIT
        sender.send(PAYLOAD)
        assert wait_readable(receiver)
        time.sleep(stamps.MAX_WAIT + 0.03)
        late = receiver.receive()
        after = time.monotonic()
        assert late is not None
        assert late.arrived is not None
        assert after - stamps.MAX_WAIT - 0.02 <= late.arrived <= after - stamps.MAX_WAIT
    finally:
        sender.close()
        receiver.close()
