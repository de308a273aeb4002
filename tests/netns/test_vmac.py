"""Virtual-MAC groups (``--vmac``): FreeBSD's checks of the CARP virtual MAC, ported.

* ``tests/sys/netinet/carp.py`` ``test_source_mac``: every advert leaves with source MAC
  00:00:5e:00:01:<vhid>;
* ``tests/sys/netinet/carp.sh`` ``nd6_ns_source_mac``: the backup cannot send from the virtual
  address, the master can, and the neighbour that answers ends up with the virtual MAC for it.
  Done for IPv4 too, where it is what ``arp_announce`` guards: the master's ARP request for
  the client must not teach the client the parent's MAC for the virtual address.

And what the mode is for: after a takeover the client's ARP entry has not changed and still
works. At exit the interface is gone and the parent's settings are back.
"""

from __future__ import annotations

import pathlib

import pytest

from pycarp.lab import Lab
from pycarp.lab.capture import AdvertCapture
from pycarp.lab.daemons import Daemon, pycarp_args, start_pycarp, wait_for
from pycarp.lab.naming import HOST_INTERFACE
from pycarp.lab.programs import check_status

from .support import (
    ELECTION_TIMEOUT,
    neighbour_mac,
    ping,
    wait_for_stable_master,
    wait_for_state,
    wait_started,
)

VHID = 7
VMAC = "00:00:5e:00:01:07"
VMAC_INTERFACE = f"{HOST_INTERFACE}.c{VHID}"
VIP4 = "198.51.100.107/24"
VIP6 = "2001:db8::107/64"


def _start(lab: Lab, tmp_path: pathlib.Path, vip: str) -> dict[str, Daemon]:
    daemons = {}
    for node, skew in (("h1", 0), ("h2", 100)):
        args = pycarp_args(lab, node, vhid=VHID, addresses=[vip], advskew=skew, extra=["--vmac"])
        if ":" in vip:  # an IPv6 group advertises from the host's IPv6 address
            args[args.index("-s") + 1] = str(lab.ipv6(node).ip)
        daemons[node] = start_pycarp(lab, node, args, workdir=tmp_path)
        wait_started(daemons[node])
    wait_for_stable_master(daemons, "h1", vhid=VHID)
    return daemons


def _sysctl(lab: Lab, node: str, key: str) -> str:
    path = f"/proc/sys/net/ipv4/conf/{HOST_INTERFACE}/{key}"
    return check_status(lab.exec(node, ["cat", path])).stdout.strip()


def _has_link(lab: Lab, node: str, name: str) -> bool:
    return lab.exec(node, ["ip", "link", "show", "dev", name]).returncode == 0


def _addresses_on(lab: Lab, node: str, name: str) -> set[str]:
    return {str(a.ip) for a in lab.addresses(node, name)} if _has_link(lab, node, name) else set()


def _ping_from(lab: Lab, node: str, source: str, target: str) -> int:
    family = "-6" if ":" in target else "-4"
    argv = ["ping", family, "-n", "-q", "-c", "2", "-i", "0.2", "-W", "1", "-I", source, target]
    return lab.exec(node, argv, timeout=10).returncode


@pytest.mark.parametrize("vip", [VIP4, VIP6], ids=["ipv4", "ipv6"])
def test_adverts_and_the_address_use_the_virtual_mac_and_survive_a_takeover(
    lab: Lab, tmp_path: pathlib.Path, vip: str
) -> None:
    before = {key: _sysctl(lab, "h1", key) for key in ("arp_ignore", "arp_announce")}
    address = vip.split("/", maxsplit=1)[0]
    with AdvertCapture(lab, tmp_path / "adverts.pcap") as capture:
        daemons = _start(lab, tmp_path, vip)
        attached = daemons["h1"].events("virtual_mac_attached")
        assert [(e["vmac_interface"], e["mac"]) for e in attached] == [(VMAC_INTERFACE, VMAC)]
        # The address lives on the virtual-MAC interface of the master only.
        wait_for(lambda: _addresses_on(lab, "h1", VMAC_INTERFACE) == {address}, 3.0)
        assert _addresses_on(lab, "h2", VMAC_INTERFACE) == set()
        assert address not in {str(a.ip) for a in lab.addresses("h1")}
        assert ping(lab, "client", address, count=2)
        assert neighbour_mac(lab, "client", address) == VMAC

        daemons["h1"].stop()
        wait_for_state(daemons["h2"], "MASTER", vhid=VHID, timeout=ELECTION_TIMEOUT)
        wait_for(lambda: _addresses_on(lab, "h2", VMAC_INTERFACE) == {address}, 3.0)
        # The client's entry did not have to change, and it still reaches the address.
        assert neighbour_mac(lab, "client", address) == VMAC
        assert ping(lab, "client", address, count=2)
        adverts = [a for a in capture.adverts() if a.advert.vhid == VHID]
    senders = {a.source for a in adverts}
    assert senders == {str(lab.ipv4(n).ip if ":" not in vip else lab.ipv6(n).ip) for n in daemons}
    assert {a.mac for a in adverts} == {VMAC}  # carp.py: check_carp_src_mac
    # h1 exited: its interface is gone and its parent's settings are what they were.
    assert not _has_link(lab, "h1", VMAC_INTERFACE)
    assert {key: _sysctl(lab, "h1", key) for key in before} == before
    daemons["h2"].stop()


@pytest.mark.parametrize("vip", [VIP4, VIP6], ids=["ipv4", "ipv6"])
def test_only_the_master_sends_from_the_address_and_with_the_virtual_mac(
    lab: Lab, tmp_path: pathlib.Path, vip: str
) -> None:
    """carp.sh nd6_ns_source_mac, and its IPv4 counterpart."""
    ipv6 = ":" in vip
    address = vip.split("/", maxsplit=1)[0]
    client = str(lab.ipv6("client").ip if ipv6 else lab.ipv4("client").ip)
    daemons = _start(lab, tmp_path, vip)
    wait_for(lambda: _addresses_on(lab, "h1", VMAC_INTERFACE) == {address}, 3.0)
    # Forget every neighbour, so the master must resolve the client and the client the address.
    for node in ("h1", "h2", "client"):
        check_status(lab.exec(node, ["ip", "-6" if ipv6 else "-4", "neigh", "flush", "all"]))
    assert _ping_from(lab, "h2", address, client) == 2  # the backup has no such address
    assert _ping_from(lab, "h1", address, client) == 0
    assert neighbour_mac(lab, "client", address) == VMAC
    for daemon in daemons.values():
        daemon.stop()


def test_a_vrrp3_group_over_ipv6_uses_the_vrrp_ipv6_mac(lab: Lab, tmp_path: pathlib.Path) -> None:
    """RFC 9568 §7.3: VRRP over IPv6 has 00:00:5e:00:02:<vrid> (CARP uses ...:01: for both)."""
    address = VIP6.split("/", maxsplit=1)[0]
    daemons = {}
    for node, priority in (("h1", 200), ("h2", 100)):
        args = ["-i", HOST_INTERFACE, "-s", str(lab.ipv6(node).ip), "-v", str(VHID), "-a", VIP6]
        args += ["--vrrp3", "--priority", str(priority), "--interval", "0.1", "--vmac"]
        daemons[node] = start_pycarp(lab, node, args, workdir=tmp_path, passphrase=None)
        wait_started(daemons[node])
    wait_for_stable_master(daemons, "h1", vhid=VHID)
    attached = daemons["h1"].events("virtual_mac_attached")
    assert [e["mac"] for e in attached] == ["00:00:5e:00:02:07"]
    wait_for(lambda: _addresses_on(lab, "h1", VMAC_INTERFACE) == {address}, 3.0)
    assert ping(lab, "client", address, count=2)
    assert neighbour_mac(lab, "client", address) == "00:00:5e:00:02:07"
    for daemon in daemons.values():
        daemon.stop()
