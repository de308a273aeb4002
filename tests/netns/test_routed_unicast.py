"""FreeBSD carp.sh ``unicast_v4`` / ``unicast_v6``, routed as FreeBSD routes them (issue 10, 4).

The two CARP hosts sit in different subnets with a router between them
(:mod:`pycarp.lab.routed`): their unicast adverts cross it and arrive with TTL 254, which
FreeBSD accepts because it checks TTL 255 only for multicast peers; the switch lets nothing
pass between the two hosts directly, and no CARP multicast at all. The right host's IPv4 address
ends in .224 (PR 284872: FreeBSD tested "is the peer multicast" on the address in network byte
order, so such a peer was taken for a multicast group). The cases FreeBSD checks:

- one master, and the router reaches the virtual address through a host route via the master;
- the adverts arrive through the router (TTL 255 on the first hop, 254 on the second);
- unicast mode survives an advskew change (a SIGHUP with a new advskew): the host still
  advertises to its peer, not to CARP's group, when it is master again.
"""

from __future__ import annotations

import ipaddress
import pathlib
import signal

import pytest

from pycarp.lab import Lab
from pycarp.lab.capture import AdvertCapture
from pycarp.lab.daemons import start_pycarp, write_config
from pycarp.lab.routed import RoutedPair, route_apart, switch_drops

from .faults import SETTLE, STARTUP, STEADY, VIRTUAL_V4, VIRTUAL_V6, Group

ROUTER = "h3"


def routed_group(lab: Lab, tmp_path: pathlib.Path, version: int) -> tuple[RoutedPair, Group, str]:
    pair = route_apart(lab, ROUTER, "h1", "h2")
    virtual = VIRTUAL_V6 if version == 6 else VIRTUAL_V4
    prefix = f"{virtual}/64" if version == 6 else f"{virtual}/24"
    group = Group(lab, tmp_path)
    for node in ("h1", "h2"):
        own, peer = pair.address(node, version).ip, pair.peer_of(node, version).ip
        group.start(node, source=str(own), addresses=[prefix], extra=["--peer", str(peer)])
    return pair, group, virtual


def router_reaches_via(lab: Lab, pair: RoutedPair, master: str, virtual: str) -> bool:
    """A host route on the router to the virtual address via the master, then three pings."""
    version = ipaddress.ip_address(virtual).version
    gateway = pair.address(master, version).ip
    host = f"{virtual}/{128 if version == 6 else 32}"
    lab.exec(ROUTER, ["ip", "route", "replace", host, "via", str(gateway)], check=True)
    ping = ["ping", f"-{version}", "-n", "-q", "-c", "3", "-i", "0.2", "-W", "1", virtual]
    return lab.exec(ROUTER, ping, timeout=10).returncode == 0


@pytest.mark.parametrize("version", [4, 6], ids=["unicast_v4", "unicast_v6"])
def test_routed_unicast_peers_elect_one_master_through_the_router(
    root: None, tmp_path: pathlib.Path, version: int
) -> None:
    with Lab.create(hosts=3) as lab:
        with AdvertCapture(lab, tmp_path / "routed.pcap") as capture:
            pair, group, virtual = routed_group(lab, tmp_path, version)
            master = group.wait_converged(None, STARTUP, virtual)
            # The backup hears the master through the router: it stays backup.
            group.assert_steady(master, STEADY, virtual)
            adverts = capture.adverts()
        assert router_reaches_via(lab, pair, master, virtual)
        own = str(pair.address(master, version).ip)
        ttls = {a.ttl for a in adverts if a.source == own}
        assert ttls == {255, 254}, f"adverts from {own}: TTLs {ttls} (255 sent, 254 routed)"
        assert switch_drops(lab)["multicast"] == 0, "unicast mode must not advertise by multicast"


def test_unicast_mode_survives_an_advskew_change(root: None, tmp_path: pathlib.Path) -> None:
    with Lab.create(hosts=3) as lab:
        pair = route_apart(lab, ROUTER, "h1", "h2")

        def table(node: str, advskew: int) -> dict[str, object]:
            return {
                "interface": lab.interface,
                "source": str(pair.address(node, 4).ip),
                "vhid": 1,
                "addresses": [f"{VIRTUAL_V4}/24"],
                "advskew": advskew,
                "destination": str(pair.peer_of(node, 4).ip),
            }

        group = Group(lab, tmp_path)
        config = write_config(tmp_path / "h1.toml", [table("h1", 0)])
        group.daemons["h1"] = start_pycarp(lab, "h1", ["--config", str(config)], workdir=tmp_path)
        group.wait_converged("h1", STARTUP)
        group.start("h2", source=str(pair.address("h2", 4).ip), extra=["--peer", "203.0.113.2"])
        group.wait_started(["h2"])
        group.assert_steady("h1", STEADY)

        write_config(config, [table("h1", 50)])  # a new advskew: the group restarts
        group["h1"].signal(signal.SIGHUP)
        group["h1"].wait_for_message("SIGHUP: reloaded: 0 added, 1 changed", 10)
        group.wait_converged("h2", SETTLE)  # h1 bowed out while it restarted
        with AdvertCapture(lab, tmp_path / "after.pcap") as capture:
            group["h2"].kill()  # h1, backup now, must take over and advertise to its peer
            group.daemons.pop("h2")
            group.wait_converged("h1", STARTUP)
            group.assert_steady("h1", 2.0)
            adverts = [a for a in capture.adverts() if a.source == "203.0.113.2"]
        assert adverts, "h1 sent no advert as master after the reload"
        assert {a.advert.advskew for a in adverts} == {50}
        assert {a.ttl for a in adverts} == {255, 254}  # to its peer, through the router
        assert switch_drops(lab)["multicast"] == 0
