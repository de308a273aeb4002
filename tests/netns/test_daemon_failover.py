"""Failover on the real kernel: crash (kill -9), graceful stop (SIGTERM), restart after a crash.

The failover gap is measured on the bridge (kernel timestamps of the old master's last advert
and the new master's first), the client's view from its ARP table: after the takeover its
entry for the virtual address must point at the new master's MAC without the client asking
again (the gratuitous ARP did that).
"""

from __future__ import annotations

import contextlib
import pathlib
import time

import pytest

from pycarp.lab import Lab, LabError
from pycarp.lab.capture import AdvertCapture, failover_gap
from pycarp.lab.daemons import pycarp_args, start_pycarp, wait_for

from .support import (
    DUAL_STACK,
    ELECTION_TIMEOUT,
    VIPS,
    advert_interval,
    changes_of,
    held_ips,
    ips,
    master_down,
    masters,
    neighbour_mac,
    ping,
    start_group,
    state_of,
    wait_for_stable_master,
    wait_for_state,
)

GAP_MARGIN = 0.3  # the daemon's own jitter is a few ms (bench/); this is for a loaded machine


@pytest.mark.parametrize(
    "addresses", [VIPS, DUAL_STACK], ids=["two-ipv4-addresses", "ipv4-and-ipv6"]
)
def test_kill_9_of_the_master_backup_takes_over_and_points_the_client_at_itself(
    lab: Lab, tmp_path: pathlib.Path, addresses: tuple[str, ...]
) -> None:
    with AdvertCapture(lab, tmp_path / "adverts.pcap") as capture:
        daemons = start_group(lab, tmp_path, addresses=addresses)
        wait_for_stable_master(daemons, "h1")
        for address in addresses:
            assert ping(lab, "client", address)
            assert neighbour_mac(lab, "client", address) == lab.mac("h1")

        killed_at = time.time()
        daemons["h1"].kill()
        took = wait_for_state(daemons["h2"], "MASTER", timeout=ELECTION_TIMEOUT)
        wait_for(lambda: held_ips(lab, "h2") == ips(addresses), 2.0)

        def client_moved() -> bool:  # by the gratuitous ARP / unsolicited NA, not by asking
            return all(neighbour_mac(lab, "client", a) == lab.mac("h2") for a in addresses)

        with contextlib.suppress(LabError):  # asserted below, with the entries in the message
            wait_for(client_moved, 3.0)
        moved = {address: neighbour_mac(lab, "client", address) for address in addresses}
        adverts = capture.adverts()

    h1, h2 = str(lab.ipv4("h1").ip), str(lab.ipv4("h2").ip)
    gap = failover_gap(adverts, h1, h2, vhid=1, after=killed_at - 0.05)
    limit = master_down(100)
    print(f"kill -9: failover gap {gap * 1000:.1f} ms (master-down {limit * 1000:.1f} ms)")
    print(f"kill -9: h2 logged MASTER {took * 1000:.0f} ms after the kill")
    assert limit - 0.05 <= gap <= limit + GAP_MARGIN
    assert masters(daemons) == ["h1", "h2"]  # h1's log ends in MASTER: it died without a word
    assert state_of(daemons["h3"]) == "BACKUP"
    assert changes_of(daemons["h3"]) == [("INIT", "BACKUP", "started")]
    assert moved == {address: lab.mac("h2") for address in addresses}, "no announcement seen"
    assert held_ips(lab, "h3") == set()
    for address in addresses:
        assert ping(lab, "client", address)
        assert neighbour_mac(lab, "client", address) == lab.mac("h2")


def test_sigterm_bows_out_and_a_backup_takes_over_within_one_interval(
    lab: Lab, tmp_path: pathlib.Path
) -> None:
    with AdvertCapture(lab, tmp_path / "adverts.pcap") as capture:
        daemons = start_group(lab, tmp_path)
        wait_for_stable_master(daemons, "h1")
        assert ping(lab, "client", VIPS[0])

        stopped_at = time.time()
        status = daemons["h1"].stop()
        stop_took = time.time() - stopped_at
        wait_for_state(daemons["h2"], "MASTER", timeout=advert_interval(0) + 1.0)
        time.sleep(advert_interval(200) + 0.3)  # longer than h3 waits after a bow-out
        adverts = capture.adverts()

    h1, h2 = str(lab.ipv4("h1").ip), str(lab.ipv4("h2").ip)
    bow_outs = [a for a in adverts if a.source == h1 and a.advert.advbase == 255]
    assert len(bow_outs) == 1, "exactly one 255/255 advert on the way out"
    assert bow_outs[0].advert.advskew == 255
    takeover = [a.timestamp for a in adverts if a.source == h2 and a.timestamp >= stopped_at]
    assert takeover
    handover = takeover[0] - bow_outs[0].timestamp
    print(f"SIGTERM: bow-out to h2's first advert {handover * 1000:.1f} ms")
    print(f"SIGTERM: h1 exited {stop_took:.2f} s after the signal")
    assert 0 <= handover <= advert_interval(0) + GAP_MARGIN
    assert status == 0
    assert changes_of(daemons["h1"])[-1][:2] == ("MASTER", "INIT")
    assert held_ips(lab, "h1") == set(), "the old master kept its addresses"
    assert masters({n: d for n, d in daemons.items() if n != "h1"}) == ["h2"]
    # The best backup takes over first; the other one never claims the addresses.
    assert changes_of(daemons["h3"]) == [("INIT", "BACKUP", "started")]
    assert held_ips(lab, "h2") == ips(VIPS)
    assert held_ips(lab, "h3") == set()
    wait_for(lambda: neighbour_mac(lab, "client", VIPS[0]) == lab.mac("h2"), 3.0)
    assert ping(lab, "client", VIPS[0])


def test_restart_after_kill_9_removes_the_stale_addresses_and_comes_up_backup(
    lab: Lab, tmp_path: pathlib.Path
) -> None:
    daemons = start_group(lab, tmp_path, skews={"h1": 0, "h2": 100})
    wait_for_stable_master(daemons, "h1")
    wait_for(lambda: held_ips(lab, "h1") == ips(VIPS), 2.0)  # claimed after the state change
    daemons["h1"].kill()
    wait_for_state(daemons["h2"], "MASTER", timeout=ELECTION_TIMEOUT)
    wait_for(lambda: held_ips(lab, "h2") == ips(VIPS), 2.0)
    assert held_ips(lab, "h1") == ips(VIPS), "kill -9 leaves the addresses behind (a crash)"

    started = time.monotonic()
    same_flags = pycarp_args(lab, "h1", addresses=VIPS, advskew=0)
    restarted = start_pycarp(lab, "h1", same_flags, workdir=tmp_path, tag="-restarted")
    wait_for(lambda: held_ips(lab, "h1") == set(), 3.0)
    cleaned = time.monotonic() - started
    print(f"restart: stale addresses gone {cleaned * 1000:.0f} ms after the start (incl. start-up)")
    time.sleep(master_down(0) + 0.5)  # longer than h1's own master-down: it must not preempt
    assert changes_of(restarted) == [("INIT", "BACKUP", "started")]
    assert held_ips(lab, "h1") == set()
    assert state_of(daemons["h2"]) == "MASTER"
    assert len(changes_of(daemons["h2"])) == 2  # INIT->BACKUP, BACKUP->MASTER: nothing since
    assert held_ips(lab, "h2") == ips(VIPS)
    assert ping(lab, "client", VIPS[0])
    assert neighbour_mac(lab, "client", VIPS[0]) == lab.mac("h2")
