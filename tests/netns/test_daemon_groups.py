"""Several groups in one pycarp process per host (``--config`` TOML), on the real kernel.

Load spreading: vhid 1 is mastered by h1, vhid 2 by h2, each host runs ONE process for both.
A crash of h1 must move vhid 1 only; vhid 2 must not notice. A SIGHUP that adds a group must
neither disturb nor delay the groups already running, and SIGUSR1 prints one line per group.
"""

from __future__ import annotations

import pathlib
import signal
import time
from collections.abc import Mapping, Sequence

from pycarp.lab import Lab
from pycarp.lab.capture import AdvertCapture
from pycarp.lab.daemons import Daemon, start_pycarp, wait_for, write_config

from .support import (
    ELECTION_TIMEOUT,
    advert_interval,
    advert_times,
    changes_of,
    dump_status,
    held_ips,
    master_down,
    spacing_deviation,
    state_of,
    wait_for_stable_master,
    wait_for_state,
    wait_started,
)

ADDRESSES = {1: "198.51.100.100/24", 2: "198.51.100.110/24", 3: "198.51.100.120/24"}
# vhid -> advskew per host: vhid 1 prefers h1, vhid 2 prefers h2 (vhid 3 is added by SIGHUP)
SKEWS = {
    1: {"h1": 0, "h2": 100, "h3": 200},
    2: {"h1": 200, "h2": 0, "h3": 100},
    3: {"h1": 0, "h2": 100, "h3": 200},
}


def group_table(lab: Lab, node: str, vhid: int) -> dict[str, object]:
    return {
        "interface": lab.interface,
        "source": str(lab.ipv4(node).ip),
        "vhid": vhid,
        "addresses": [ADDRESSES[vhid]],
        "advbase": 1,
        "advskew": SKEWS[vhid][node],
        # Each host is preferred by one group and started after another: with preemption the
        # spread is restored whichever process happened to start first.
        "preempt": True,
    }


def start_hosts(
    lab: Lab, workdir: pathlib.Path, nodes: Sequence[str], vhids: Sequence[int]
) -> dict[str, Daemon]:
    daemons = {}
    for node in nodes:
        config = write_config(
            workdir / f"{node}.toml", [group_table(lab, node, vhid) for vhid in vhids]
        )
        daemon = start_pycarp(lab, node, ["--config", str(config)], workdir=workdir)
        daemons[node] = wait_started(daemon, groups=len(vhids))
    return daemons


def vip(vhid: int) -> str:
    return ADDRESSES[vhid].split("/")[0]


def holders_of(lab: Lab, vhid: int, nodes: Mapping[str, Daemon]) -> list[str]:
    return [node for node in nodes if vip(vhid) in held_ips(lab, node)]


def test_two_groups_in_one_process_spread_load_and_fail_over_separately(
    lab: Lab, tmp_path: pathlib.Path
) -> None:
    with AdvertCapture(lab, tmp_path / "adverts.pcap") as capture:
        daemons = start_hosts(lab, tmp_path, lab.hosts, [1, 2])
        wait_for_stable_master(daemons, "h1", vhid=1)
        wait_for_stable_master(daemons, "h2", vhid=2)
        spread = (["h1"], ["h2"])
        wait_for(lambda: (holders_of(lab, 1, daemons), holders_of(lab, 2, daemons)) == spread, 2)
        before = {node: len(changes_of(d, vhid=2)) for node, d in daemons.items()}

        killed_at = time.time()
        daemons["h1"].kill()
        wait_for_state(daemons["h2"], "MASTER", vhid=1, timeout=ELECTION_TIMEOUT)
        time.sleep(master_down(100) + 0.5)
        adverts = capture.adverts()

    alive = {node: d for node, d in daemons.items() if node != "h1"}
    assert state_of(alive["h2"], vhid=1) == "MASTER"
    assert state_of(alive["h3"], vhid=1) == "BACKUP"
    assert "198.51.100.100" in held_ips(lab, "h2")
    assert holders_of(lab, 2, daemons) == ["h2"]
    for node, daemon in alive.items():
        assert len(changes_of(daemon, vhid=2)) == before[node], f"vhid 2 moved on {node}"
    assert state_of(alive["h2"], vhid=2) == "MASTER"
    # vhid 2's master kept advertising on time through vhid 1's failover in the same process.
    h2 = str(lab.ipv4("h2").ip)
    times = advert_times(adverts, h2, 2, start=killed_at - 1.5)
    deviation = spacing_deviation(times, advert_interval(0))
    print(
        f"vhid 2 through vhid 1's failover: {len(times)} adverts, max deviation "
        f"{deviation * 1000:.1f} ms"
    )
    assert deviation < 0.15


def test_sigusr1_logs_one_status_line_per_group(lab: Lab, tmp_path: pathlib.Path) -> None:
    daemons = start_hosts(lab, tmp_path, ["h1", "h2"], [1, 2])
    wait_for_stable_master(daemons, "h1", vhid=1)
    wait_for_stable_master(daemons, "h2", vhid=2)
    status = {node: dump_status(daemon) for node, daemon in daemons.items()}
    assert {vhid: s.state for vhid, s in status["h1"].items()} == {1: "MASTER", 2: "BACKUP"}
    assert {vhid: s.state for vhid, s in status["h2"].items()} == {1: "BACKUP", 2: "MASTER"}
    assert status["h1"][1].adverts_sent > 0
    assert status["h2"][2].adverts_sent > 0
    assert status["h2"][1].adverts_sent == 0  # started after h1 with a worse advskew: silent
    assert all(s.drops == {} for per_host in status.values() for s in per_host.values())
    assert status["h1"][2].master == "198.51.100.2"  # a backup knows its master
    assert "master 198.51.100.2" in daemons["h1"].log()  # and its status line names it
    assert all(d.alive() for d in daemons.values())


def test_sighup_adding_a_group_disturbs_no_running_group(lab: Lab, tmp_path: pathlib.Path) -> None:
    nodes = ["h1", "h2"]
    with AdvertCapture(lab, tmp_path / "adverts.pcap") as capture:
        daemons = start_hosts(lab, tmp_path, nodes, [1, 2])
        wait_for_stable_master(daemons, "h1", vhid=1)
        wait_for_stable_master(daemons, "h2", vhid=2)
        before = {node: d.state_changes() for node, d in daemons.items()}
        time.sleep(1.5)  # adverts before the reload, to measure the spacing across it

        reloaded_at = time.time()
        for node, daemon in daemons.items():
            write_config(
                tmp_path / f"{node}.toml", [group_table(lab, node, vhid) for vhid in (1, 2, 3)]
            )
            daemon.signal(signal.SIGHUP)
        for daemon in daemons.values():
            daemon.wait_for_event("group_started", 5, vhid=3)
            reloaded = "SIGHUP: reloaded: 1 added, 0 changed, 0 removed, 2 untouched"
            daemon.wait_for_message(reloaded, 5)
        wait_for_stable_master(daemons, "h1", vhid=3)
        wait_for(lambda: holders_of(lab, 3, daemons) == ["h1"], 2.0)
        time.sleep(1.5)
        adverts = capture.adverts()

    for node, daemon in daemons.items():
        new = daemon.state_changes()[len(before[node]) :]
        assert {vhid for vhid, *_rest in new} == {3}, f"a running group changed on {node}: {new}"
        assert daemon.state_changes()[: len(before[node])] == before[node]
    assert (holders_of(lab, 1, daemons), holders_of(lab, 2, daemons)) == (["h1"], ["h2"])
    for vhid, master in ((1, "h1"), (2, "h2")):
        times = advert_times(adverts, str(lab.ipv4(master).ip), vhid, start=reloaded_at - 1.5)
        later = [t for t in times if t > reloaded_at]
        assert later, f"vhid {vhid}: no advert after the reload"
        assert later[0] - reloaded_at < advert_interval(0) + 0.15, "an advert was missed"
        deviation = spacing_deviation(times, advert_interval(0))
        print(
            f"vhid {vhid} across SIGHUP: {len(times)} adverts, max deviation "
            f"{deviation * 1000:.1f} ms"
        )
        assert deviation < 0.15
