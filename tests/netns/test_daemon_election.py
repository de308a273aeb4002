"""pycarp on the real kernel: three hosts elect exactly one master, which alone holds the addresses.

Every test runs real ``python -m pycarp`` processes in the lab's namespaces; who is master comes
from the daemons' logs, who holds an address from the kernel (``ip addr``), and who answers a
client from the client's own ARP/ND table.
"""

from __future__ import annotations

import pathlib
import time

import pytest

from pycarp.lab import Lab
from pycarp.lab.capture import AdvertCapture
from pycarp.lab.daemons import wait_for

from .support import (
    DUAL_STACK,
    ELECTION_TIMEOUT,
    VIPS,
    advert_times,
    arping_macs,
    changes_of,
    held_ips,
    holders,
    ips,
    masters,
    neighbour_mac,
    ping,
    start_group,
    wait_for_stable_master,
)


@pytest.mark.parametrize(
    "addresses", [VIPS, DUAL_STACK], ids=["two-ipv4-addresses", "ipv4-and-ipv6"]
)
def test_three_hosts_elect_one_master_that_alone_holds_the_addresses(
    lab: Lab, tmp_path: pathlib.Path, addresses: tuple[str, ...]
) -> None:
    with AdvertCapture(lab, tmp_path / "adverts.pcap") as capture:
        # Launched together, as an init system would: whoever's master-down timer expires
        # first wins (normally h1, but a slow start on a loaded machine may favour another).
        daemons = start_group(lab, tmp_path, addresses=addresses, staggered=False)
        wait_for(lambda: len(masters(daemons)) == 1, ELECTION_TIMEOUT)
        (master,) = masters(daemons)
        wait_for_stable_master(daemons, master)
        settled = time.time()
        time.sleep(2.5)  # a few more adverts: the election must stay as it is
        adverts = capture.adverts()

    print(f"elected: {master}")
    backups = [node for node in lab.hosts if node != master]
    assert masters(daemons) == [master]
    for node in backups:
        assert changes_of(daemons[node]) == [("INIT", "BACKUP", "started")]
        assert held_ips(lab, node) == set()
    assert [new for _old, new, _why in changes_of(daemons[master])] == ["BACKUP", "MASTER"]
    assert held_ips(lab, master) == ips(addresses)
    for address in addresses:
        assert holders(lab, address) == [master]
        assert ping(lab, "client", address), f"{address} does not answer the client"
        assert neighbour_mac(lab, "client", address) == lab.mac(master)
    assert arping_macs(lab, "client", addresses[0]) == [lab.mac(master)]
    # Only the master advertises; backups stay silent.
    senders = {a.source for a in adverts if a.timestamp >= settled}
    assert senders == {str(lab.ipv4(master).ip)}
    assert len(advert_times(adverts, str(lab.ipv4(master).ip), 1, start=settled)) >= 2
