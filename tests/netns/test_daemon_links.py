"""Link faults on the real kernel: carrier loss (cable pulled) and partitions (split brain).

A cut master must drop to INIT and release its addresses while a backup takes over; when the
cable is back, nobody may flap unless the old master was told to preempt, and then the
addresses move back exactly once. A partition makes two masters; when it heals, one of them
must yield within an advertisement interval (pycarp's reassert makes that one round trip).
"""

from __future__ import annotations

import pathlib
import time

import pytest

from pycarp.lab import Lab
from pycarp.lab.daemons import Daemon, wait_for

from .support import (
    ELECTION_TIMEOUT,
    VIPS,
    advert_interval,
    arping_macs,
    changes_of,
    held_ips,
    ips,
    master_down,
    neighbour_mac,
    ping,
    start_group,
    state_of,
    wait_for_stable_master,
    wait_for_state,
)

MARGIN = 0.5


def address_changes(daemon: Daemon, added: bool) -> list[str]:
    """The addresses pycarp added (or removed) natively for ``1@eth0``, from its events."""
    return [
        event["address"]
        for event in daemon.events("address_changed")
        if event["group"] == "1@eth0" and event["added"] is added and not event["error"]
    ]


@pytest.mark.parametrize("preempt", [False, True], ids=["no-preempt", "preempt"])
def test_carrier_loss_on_the_master_hands_over_and_heal_follows_the_preempt_setting(
    lab: Lab, tmp_path: pathlib.Path, preempt: bool
) -> None:
    extra = {"h1": ["--preempt"]} if preempt else {}
    daemons = start_group(lab, tmp_path, extra=extra)
    wait_for_stable_master(daemons, "h1")

    lab.cut("h1")
    wait_for_state(daemons["h1"], "INIT", timeout=2.0)
    wait_for(lambda: held_ips(lab, "h1") == set(), 2.0)
    took = wait_for_state(daemons["h2"], "MASTER", timeout=ELECTION_TIMEOUT)
    print(f"cut: h2 MASTER {took * 1000:.0f} ms after h1 went INIT")
    wait_for(lambda: held_ips(lab, "h2") == ips(VIPS), 2.0)
    assert state_of(daemons["h3"]) == "BACKUP"
    assert "carrier lost" in daemons["h1"].log()
    before_heal = {node: len(changes_of(daemon)) for node, daemon in daemons.items()}
    h2_added = len(address_changes(daemons["h2"], added=True))

    lab.heal("h1")
    wait_for_state(daemons["h1"], "BACKUP" if not preempt else "MASTER", timeout=ELECTION_TIMEOUT)
    time.sleep(master_down(0) + MARGIN)  # longer than anybody's master-down: room to flap

    h1_after = [new for _old, new, _why in changes_of(daemons["h1"])[before_heal["h1"] :]]
    h2_after = [new for _old, new, _why in changes_of(daemons["h2"])[before_heal["h2"] :]]
    assert changes_of(daemons["h3"]) == [("INIT", "BACKUP", "started")]
    if not preempt:
        assert h1_after == ["BACKUP"]
        assert h2_after == [], "the new master changed state although nobody preempts"
        assert held_ips(lab, "h1") == set()
        assert held_ips(lab, "h2") == ips(VIPS)
        assert len(address_changes(daemons["h2"], added=True)) == h2_added
        new_master = "h2"
    else:
        assert h1_after == ["BACKUP", "MASTER"]
        assert h2_after == ["BACKUP"]
        assert held_ips(lab, "h1") == ips(VIPS)
        assert held_ips(lab, "h2") == set()
        # Moved back once: each address added once more on h1, removed once on h2.
        assert sorted(address_changes(daemons["h1"], added=True)) == sorted(VIPS * 2)
        assert sorted(address_changes(daemons["h2"], added=False)) == sorted(VIPS)
        new_master = "h1"
    assert [n for n, d in daemons.items() if state_of(d) == "MASTER"] == [new_master]
    assert held_ips(lab, "h3") == set()
    assert ping(lab, "client", VIPS[0])
    wait_for(lambda: neighbour_mac(lab, "client", VIPS[0]) == lab.mac(new_master), 3.0)


def test_partition_makes_two_masters_and_healing_leaves_one_within_an_interval(
    lab: Lab, tmp_path: pathlib.Path
) -> None:
    daemons = start_group(lab, tmp_path)
    wait_for_stable_master(daemons, "h1")

    lab.isolate("h1")
    wait_for_state(daemons["h2"], "MASTER", timeout=ELECTION_TIMEOUT)
    time.sleep(0.5)
    assert state_of(daemons["h1"]) == "MASTER"  # it cannot know: split brain, as intended
    assert held_ips(lab, "h1") == held_ips(lab, "h2") == ips(VIPS)
    assert state_of(daemons["h3"]) == "BACKUP"
    assert ping(lab, "client", VIPS[0])  # the client is on h2's side of the split
    assert neighbour_mac(lab, "client", VIPS[0]) == lab.mac("h2")
    h1_changes = len(changes_of(daemons["h1"]))

    lab.reconnect()
    took = wait_for_state(daemons["h2"], "BACKUP", timeout=advert_interval(0) + MARGIN)
    print(f"partition healed: two masters -> one in {took * 1000:.0f} ms")
    wait_for(lambda: held_ips(lab, "h2") == set(), 2.0)
    time.sleep(master_down(0) + MARGIN)
    assert [n for n, d in daemons.items() if state_of(d) == "MASTER"] == ["h1"]
    assert len(changes_of(daemons["h1"])) == h1_changes, "the faster master never left MASTER"
    assert state_of(daemons["h3"]) == "BACKUP"
    assert held_ips(lab, "h1") == ips(VIPS)
    assert held_ips(lab, "h2") == held_ips(lab, "h3") == set()
    # The client, which had cached h2's MAC during the split, was pointed back at h1 by h1's
    # announcement (not by asking again); both heal orders are forced in test_daemon_stale_arp.
    assert neighbour_mac(lab, "client", VIPS[0]) == lab.mac("h1")
    assert arping_macs(lab, "client", VIPS[0]) == [lab.mac("h1")]
