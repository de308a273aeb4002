"""FreeBSD's CARP regression scenarios (``tests/sys/netinet/carp.sh``), where they apply.

The scenarios were read from FreeBSD's test (the version with basic_v4, unicast_v4, basic_v6,
unicast_v6, negative_demotion, nd6_ns_source_mac and switch); the code here is pycarp's own.

- basic_v4 / basic_v6: two hosts, same vhid, same advskew: exactly one master, and a third
  node reaches the virtual address. The IPv6 group advertises from IPv6 sources.
- unicast_v4 / unicast_v6: FreeBSD routes between two subnets, so multicast cannot pass. Here
  the hosts share the switch, and the switch drops CARP multicast (224.0.0.18, ff02::12):
  ``--peer`` alone must carry the adverts. IPv6 also with link-local sources and peers.
- negative_demotion: FreeBSD sets ``net.inet.carp.demotion=-1`` on a preempting master and
  checks there are never two masters. pycarp has no demotion sysctl; its host-wide demotion
  is carrier loss on another CARP interface (240 per interface, FreeBSD's ifdown factor). So
  h1 gets a second group on a veth pair whose far end is taken down: h2 must take over while
  h1 is demoted, h1 must take the group back when the carrier returns, advertising exactly
  its configured advskew again (the demotion undone, never below zero), one master each time.
- nd6_ns_source_mac: only the master may use the virtual address as a source, and neighbours
  learn FreeBSD's virtual MAC. pycarp announces the interface's own MAC (docs/behaviour.md),
  so the client's neighbour entry must be the master's MAC.
- switch (forcing MASTER/BACKUP with ifconfig): not ported: pycarp has no run-time command
  that forces a state.
"""

from __future__ import annotations

import ipaddress
import pathlib
import re
import time

import pytest

from pycarp.lab import Lab
from pycarp.lab.capture import AdvertCapture
from pycarp.lab.daemons import start_pycarp, write_config
from pycarp.lab.programs import check_status

from .faults import (
    SETTLE,
    STARTUP,
    STEADY,
    VIRTUAL_V4,
    VIRTUAL_V6,
    Group,
)

MULTICAST_BLOCK = """table bridge faults_multicast {
    chain forward {
        type filter hook forward priority -10; policy accept;
        ip daddr 224.0.0.18 counter drop
        ip6 daddr ff02::12 counter drop
    }
}
"""


def virtual(v6: bool) -> tuple[str, str]:
    """The virtual address and its prefix form for the family."""
    return (VIRTUAL_V6, f"{VIRTUAL_V6}/64") if v6 else (VIRTUAL_V4, f"{VIRTUAL_V4}/24")


def client_reaches(lab: Lab, address: str) -> bool:
    """Three echo requests 0.2 s apart from the client, one second for the last reply."""
    family = "-6" if ipaddress.ip_address(address).version == 6 else "-4"
    argv = ["ping", family, "-n", "-q", "-c", "3", "-i", "0.2", "-W", "1", address]
    return check_status(lab.exec("client", argv, timeout=10), (0, 1)).returncode == 0


def link_local(lab: Lab, node: str) -> str:
    return next(str(a.ip) for a in lab.addresses(node) if a.ip.version == 6 and a.ip.is_link_local)


@pytest.mark.parametrize("v6", [False, True], ids=["basic_v4", "basic_v6"])
def test_basic_two_equal_hosts_one_master(root: None, tmp_path: pathlib.Path, v6: bool) -> None:
    with Lab.create(hosts=2, client=True) as lab:
        address, prefix = virtual(v6)
        group = Group(lab, tmp_path)
        for node in lab.hosts:
            group.start(node, advskew=0, v6=v6, addresses=[prefix])
        master = group.wait_converged(None, STARTUP, address)
        group.assert_steady(master, STEADY, address)
        assert client_reaches(lab, address)


def multicast_drops(lab: Lab) -> list[int]:
    """How many CARP multicast packets the switch has dropped, per rule."""
    listing = lab.exec("sw", ["nft", "list", "table", "bridge", "faults_multicast"], check=True)
    return [int(n) for n in re.findall(r"counter packets (\d+)", listing.stdout)]


@pytest.mark.parametrize(
    "family", ["ipv4", "ipv6", "ipv6-link-local"], ids=["unicast_v4", "unicast_v6", "unicast_ll_v6"]
)
def test_unicast_peers_without_multicast(root: None, tmp_path: pathlib.Path, family: str) -> None:
    with Lab.create(hosts=2, client=True) as lab:
        lab.exec("sw", ["nft", "-f", "-"], stdin=MULTICAST_BLOCK, check=True)
        v6 = family != "ipv4"

        def own(node: str) -> str:
            if family == "ipv6-link-local":
                return link_local(lab, node)
            return str(lab.ipv6(node).ip if v6 else lab.ipv4(node).ip)

        address, prefix = virtual(v6)
        group = Group(lab, tmp_path)
        for node, peer in (("h1", "h2"), ("h2", "h1")):
            group.start(node, source=own(node), addresses=[prefix], extra=["--peer", own(peer)])
        master = group.wait_converged(None, STARTUP, address)
        # The backup hears the master although no multicast can pass: it stays BACKUP.
        group.assert_steady(master, STEADY, address)
        assert client_reaches(lab, address)
        assert multicast_drops(lab) == [0, 0], "unicast mode must not advertise by multicast"


DEMOTION_LINK, DEMOTION_PEER = "carp1", "carp1peer"


def second_interface(lab: Lab, node: str) -> None:
    """A veth pair inside the host: taking the peer down is a carrier loss on DEMOTION_LINK."""
    for command in (
        ["ip", "link", "add", DEMOTION_LINK, "type", "veth", "peer", "name", DEMOTION_PEER],
        ["ip", "addr", "add", "203.0.113.1/24", "dev", DEMOTION_LINK],
        ["ip", "link", "set", DEMOTION_LINK, "up"],
        ["ip", "link", "set", DEMOTION_PEER, "up"],
    ):
        lab.exec(node, command, check=True)


def test_demotion_by_carrier_loss_hands_over_and_back(root: None, tmp_path: pathlib.Path) -> None:
    """negative_demotion, mapped to the demotion pycarp has: carrier loss elsewhere."""
    with Lab.create(hosts=2) as lab:
        second_interface(lab, "h1")
        config = write_config(
            tmp_path / "h1.toml",
            [
                {
                    "interface": lab.interface,
                    "source": str(lab.ipv4("h1").ip),
                    "vhid": 1,
                    "addresses": [f"{VIRTUAL_V4}/24"],
                    "advskew": 0,
                    "preempt": True,
                },
                {
                    "interface": DEMOTION_LINK,
                    "source": "203.0.113.1",
                    "vhid": 2,
                    "addresses": ["198.51.100.150/32"],
                },
            ],
        )
        group = Group(lab, tmp_path)
        group.daemons["h1"] = start_pycarp(lab, "h1", ["--config", str(config)], workdir=tmp_path)
        group.wait_converged("h1", STARTUP)
        group.start("h2", extra=["--preempt"])
        group.wait_started(["h2"])
        group.assert_steady("h1", STEADY)

        with AdvertCapture(lab, tmp_path / "demotion.pcap") as capture:
            cut = time.time()
            lab.exec("h1", ["ip", "link", "set", DEMOTION_PEER, "down"], check=True)
            group.wait_converged("h2", SETTLE)
            group.assert_steady("h2", STEADY)
            healed = time.time()
            lab.exec("h1", ["ip", "link", "set", DEMOTION_PEER, "up"], check=True)
            group.wait_converged("h1", SETTLE)
            group.assert_steady("h1", STEADY)
            adverts = capture.adverts()

        from_h1 = [a for a in adverts if a.source == str(lab.ipv4("h1").ip)]
        # FreeBSD's ifdown factor on the wire; the daemon needs a moment to see the carrier go.
        demoted = [a.advert.advskew for a in from_h1 if cut < a.timestamp < healed]
        assert 240 in demoted, demoted
        assert {a.advert.advskew for a in from_h1 if cut + 0.1 < a.timestamp < healed} == {240}
        # Undone exactly (the configured advskew, not below it); h1 was silent as BACKUP when
        # the carrier returned, so every advert after that counts.
        restored = [a.advert.advskew for a in from_h1 if a.timestamp > healed]
        assert set(restored) == {0}, restored
        assert "carrier lost" in group["h1"].log()


def test_only_the_master_uses_the_address_and_its_own_mac(
    root: None, tmp_path: pathlib.Path
) -> None:
    """nd6_ns_source_mac: the virtual address as a source works on the master only."""
    with Lab.create(hosts=2, client=True) as lab:
        group = Group(lab, tmp_path)
        group.elect("h1", ["h2"], v6=True, addresses=[f"{VIRTUAL_V6}/64"])
        client = str(lab.ipv6("client").ip)
        ping = ["ping", "-6", "-n", "-q", "-c", "1", "-W", "1", "-I", VIRTUAL_V6, client]
        assert lab.exec("h2", ping, timeout=10).returncode != 0, "the backup has no such address"
        assert lab.exec("h1", ping, timeout=10).returncode == 0
        neighbour = lab.exec("client", ["ip", "-6", "neigh", "show", VIRTUAL_V6], check=True)
        assert f"lladdr {lab.mac('h1')}" in neighbour.stdout, neighbour.stdout
