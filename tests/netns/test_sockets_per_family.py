"""One pycarp process, two groups on the same interface: one sourced from IPv4, one from IPv6.

The daemon opens one advert socket per interface *and address family*; before that, the second
group silently reused the first group's IPv4 socket.
"""

from __future__ import annotations

import pathlib
import time

from pycarp.lab import Lab
from pycarp.lab.capture import AdvertCapture
from pycarp.lab.daemons import start_pycarp, wait_for, write_config


def test_an_ipv4_and_an_ipv6_group_share_an_interface(lab: Lab, tmp_path: pathlib.Path) -> None:
    capture = AdvertCapture(lab, tmp_path / "adverts.pcap")
    daemons = {}
    for node, skew in (("h1", 0), ("h2", 100)):
        config = write_config(
            tmp_path / f"{node}.toml",
            [
                {
                    "interface": "eth0",
                    "source": str(lab.ipv4(node).ip),
                    "vhid": 1,
                    "passphrase": "secret",
                    "addresses": ["198.51.100.100/24"],
                    "advskew": skew,
                },
                {
                    "interface": "eth0",
                    "source": str(lab.ipv6(node).ip),
                    "vhid": 2,
                    "passphrase": "secret",
                    "addresses": ["2001:db8::100/64"],
                    "advskew": 100 - skew,
                },
            ],
        )
        daemons[node] = start_pycarp(lab, node, ["--config", str(config)], workdir=tmp_path)

    def held(node: str) -> set[str]:
        return {str(a.ip) for a in lab.virtual_addresses(node)}

    wait_for(lambda: held("h1") == {"198.51.100.100"} and held("h2") == {"2001:db8::100"}, 8)
    # Each master's adverts reach the other host on the right socket: nobody takes over.
    for daemon in daemons.values():
        daemon.wait_for_event("state_changed", 1, old="BACKUP", new="MASTER")
    time.sleep(4)
    assert held("h1") == {"198.51.100.100"}
    assert held("h2") == {"2001:db8::100"}
    for node, daemon in daemons.items():
        masters = [
            (vhid, new) for vhid, _old, new, _why in daemon.state_changes() if new == "MASTER"
        ]
        assert masters == ([(1, "MASTER")] if node == "h1" else [(2, "MASTER")]), daemon.log()
    # Each group advertises from its own family's source: vhid 1 over IPv4, vhid 2 over IPv6.
    sources = {(a.advert.vhid, a.source) for a in capture.adverts()}
    capture.stop()
    assert sources == {(1, str(lab.ipv4("h1").ip)), (2, str(lab.ipv6("h2").ip))}
