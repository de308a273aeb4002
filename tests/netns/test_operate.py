"""Operating a running daemon on the real kernel: status during a failover, maintenance
(hand-over timing, persistence across kill -9), forced states, negative demotion, refusals.

Every command goes through the real CLI (``pycarp status|maintenance|demote|state``) and the
daemon's control socket; outcomes are read from the daemons' event streams (``--events``), the
kernel's addresses and the adverts captured on the bridge.
"""

from __future__ import annotations

import pathlib
import signal
import time
from typing import Any

from pycarp.lab import Lab
from pycarp.lab.capture import AdvertCapture
from pycarp.lab.daemons import Daemon, pycarp_args, start_pycarp, wait_for

from .support import (
    ELECTION_TIMEOUT,
    VIPS,
    held_ips,
    ips,
    master_down,
    start_group,
    wait_for_stable_master,
    wait_started,
)

BOW_OUT_MARGIN = 0.3  # a loaded 2-core machine; the takeover itself is skew + transit


def group_status(daemon: Daemon, vhid: int = 1) -> dict[str, Any]:
    [group] = [g for g in daemon.status()["groups"] if g["vhid"] == vhid]
    return dict(group)


def wait_status(daemon: Daemon, state: str, timeout: float = ELECTION_TIMEOUT) -> float:
    return wait_for(lambda: group_status(daemon)["state"] == state, timeout, interval=0.02)


def test_status_tells_who_is_master_and_why_through_a_failover(
    lab: Lab, tmp_path: pathlib.Path
) -> None:
    daemons = start_group(lab, tmp_path)
    wait_for_stable_master(daemons, "h1")
    h1 = str(lab.ipv4("h1").ip)
    backup = group_status(daemons["h2"])
    assert backup["state"] == "BACKUP"
    assert backup["master"] == {
        "address": h1,
        "advbase": 1,
        "advskew": 0,
        "demote": 0,
        "interval": 1.0,
        "is_us": False,
    }
    assert backup["why"] == f"{h1} advertises every 1.00 s, faster than our 1.39 s; preempt off"
    assert backup["addresses"] == list(VIPS)
    assert (backup["advskew"], backup["advskew_on_wire"], backup["demotion"]) == (100, 100, 0)
    master = group_status(daemons["h1"])
    assert master["state"] == "MASTER"
    assert master["master"] == {
        "address": h1,
        "advbase": 1,
        "advskew": 0,
        "demote": 0,
        "interval": 1.0,
        "is_us": True,
    }
    assert int(str(master["adverts_sent"])) >= 1

    daemons["h1"].kill()
    took = wait_status(daemons["h2"], "MASTER")
    assert took <= master_down(100) + 1.0
    h2 = str(lab.ipv4("h2").ip)
    wait_for(lambda: group_status(daemons["h3"])["master"] is not None, 3)
    wait_for(lambda: (group_status(daemons["h3"])["master"] or {}).get("address") == h2, 3)
    after = group_status(daemons["h2"])
    assert after["reason"] == "master-down timer expired"
    assert float(str(after["since_wall"])) > time.time() - took - 2
    human = daemons["h2"].control("status")
    assert human.returncode == 0, human.stderr
    assert "1@eth0" in human.stdout
    assert "MASTER" in human.stdout


def test_maintenance_hands_over_at_once_and_survives_kill_9(
    lab: Lab, tmp_path: pathlib.Path
) -> None:
    daemons = start_group(lab, tmp_path, skews={"h1": 0, "h2": 100})
    wait_for_stable_master(daemons, "h1")
    h1, h2 = (str(lab.ipv4(n).ip) for n in ("h1", "h2"))
    with AdvertCapture(lab, tmp_path / "adverts.pcap") as capture:
        asked_at = time.time()
        done = daemons["h1"].control("maintenance", "on")
        assert done.returncode == 0, done.stderr
        assert "maintenance on" in done.stdout
        wait_status(daemons["h2"], "MASTER", timeout=3)
        wait_for(lambda: held_ips(lab, "h2") == ips(VIPS), 2)
        adverts = capture.adverts()
    bow_outs = [a for a in adverts if a.source == h1 and a.advert.advbase == 255]
    assert len(bow_outs) == 1
    [bow_out] = bow_outs
    first = min(a.timestamp for a in adverts if a.source == h2 and a.advert.advbase == 1)
    print(
        f"maintenance on: asked -> bow-out {(bow_out.timestamp - asked_at) * 1000:.0f} ms, "
        f"bow-out -> h2's first advert {(first - bow_out.timestamp) * 1000:.0f} ms"
    )
    # The bow-out lets h2 take over after its own skew (100/256 s), not its master-down (3.4 s).
    assert bow_out.timestamp - asked_at <= BOW_OUT_MARGIN + 0.5  # a CLI start, then at once
    assert 100 / 256 - 0.05 <= first - bow_out.timestamp <= 100 / 256 + BOW_OUT_MARGIN
    [asked] = [e for e in daemons["h1"].events() if e["event"] == "control"]
    assert (asked["command"], asked["uid"], asked["ok"]) == ("maintenance", 0, True)
    held = group_status(daemons["h1"])
    assert held["state"] == "BACKUP"
    assert held["maintenance"] is True
    assert held["advskew_on_wire"] == 240
    assert held_ips(lab, "h1") == set()

    # kill -9 and start again with the same state directory: still in maintenance.
    daemons["h1"].kill()
    again = start_pycarp(
        lab,
        "h1",
        [
            *pycarp_args(lab, "h1", addresses=VIPS, advskew=0),
            "--state-dir",
            str(daemons["h1"].state_dir),
        ],
        workdir=tmp_path,
        tag="-again",
    )
    wait_started(again)
    assert again.status()["maintenance"] is True
    time.sleep(master_down(0) + 0.5)  # long enough to have taken over, were it not demoted
    assert group_status(again)["state"] == "BACKUP"
    assert group_status(again)["advskew_on_wire"] == 240
    assert held_ips(lab, "h1") == set()
    assert group_status(daemons["h2"])["state"] == "MASTER"

    off = again.control("maintenance", "off")
    assert off.returncode == 0, off.stderr
    restored = group_status(again)
    assert restored["maintenance"] is False
    assert (restored["advskew_on_wire"], restored["demotion"]) == (0, 0)
    assert all(value == 0 for value in restored["demotion_sources"].values())
    # Without preempt h2 keeps the addresses: no second interruption for the clients.
    time.sleep(1.5)
    assert group_status(daemons["h2"])["state"] == "MASTER"
    assert group_status(again)["state"] == "BACKUP"


def test_forced_states_follow_freebsd_and_never_leave_two_masters(
    lab: Lab, tmp_path: pathlib.Path
) -> None:
    daemons = start_group(lab, tmp_path, skews={"h1": 0, "h2": 100})
    wait_for_stable_master(daemons, "h1")
    # Forcing the slower host to master: it takes over, hears the better master and yields.
    done = daemons["h2"].control("state", "1@eth0", "master")
    assert done.returncode == 0, done.stderr
    assert "BACKUP -> MASTER" in done.stdout
    wait_for(lambda: group_status(daemons["h2"])["state"] == "BACKUP", 3, interval=0.02)
    changes = [e for e in daemons["h2"].events() if e["event"] == "state_changed"]
    assert [(e["old"], e["new"], e["cause"]) for e in changes[-2:]] == [
        ("BACKUP", "MASTER", "forced"),
        ("MASTER", "BACKUP", "better_master"),
    ]
    assert changes[-1]["mono"] - changes[-2]["mono"] < 1.5  # one advert interval at most
    assert group_status(daemons["h1"])["state"] == "MASTER"

    # Forcing the master to backup: it bows out, so h2 takes over after its own skew (FreeBSD
    # steps down silently, and h1, whose master-down interval is the shortest, would be back
    # after 3 s without service); no preempt: h1 then stays backup.
    with AdvertCapture(lab, tmp_path / "adverts.pcap") as capture:
        done = daemons["h1"].control("state", "1@eth0", "backup")
        assert done.returncode == 0, done.stderr
        assert "MASTER -> BACKUP" in done.stdout
        wait_status(daemons["h2"], "MASTER", timeout=3)
        adverts = capture.adverts()
    h1, h2 = (str(lab.ipv4(n).ip) for n in ("h1", "h2"))
    [bow_out] = [a for a in adverts if a.source == h1 and a.advert.advbase == 255]
    first = min(a.timestamp for a in adverts if a.source == h2 and a.advert.advbase == 1)
    assert 100 / 256 - 0.05 <= first - bow_out.timestamp <= 100 / 256 + BOW_OUT_MARGIN
    time.sleep(master_down(0) + 0.5)
    assert group_status(daemons["h1"])["state"] == "BACKUP"
    assert group_status(daemons["h2"])["state"] == "MASTER"


def test_negative_demotion_with_preempt_on_both_never_gives_two_masters(
    lab: Lab, tmp_path: pathlib.Path
) -> None:
    daemons = start_group(
        lab, tmp_path, skews={"h1": 0, "h2": 100}, extra={"h1": ["-P"], "h2": ["-P"]}
    )
    wait_for_stable_master(daemons, "h1")
    done = daemons["h2"].control("demote", "-1000")
    assert done.returncode == 0, done.stderr
    assert "now -1000" in done.stdout
    assert group_status(daemons["h2"])["advskew_on_wire"] == 0  # never below 0 on the wire
    with AdvertCapture(lab, tmp_path / "adverts.pcap") as capture:
        time.sleep(4.0)
        adverts = capture.adverts()
    states = {node: group_status(d)["state"] for node, d in daemons.items()}
    assert sorted(states.values()) == ["BACKUP", "MASTER"], states
    # Equal timing: the tie-break settles it; the wire in the last 2 s has one speaker.
    last = max(a.timestamp for a in adverts)
    speakers = {a.source for a in adverts if a.timestamp > last - 2.0 and a.advert.advbase != 255}
    assert len(speakers) == 1, speakers
    master = next(node for node, state in states.items() if state == "MASTER")
    assert speakers == {str(lab.ipv4(master).ip)}

    # Back to 0: h1 (advskew 0) beats h2 (100) again, preempting; still one master.
    done = daemons["h2"].control("demote", "=0")
    assert done.returncode == 0, done.stderr
    wait_for(lambda: group_status(daemons["h1"])["state"] == "MASTER", 5, interval=0.05)
    wait_for(lambda: group_status(daemons["h2"])["state"] == "BACKUP", 5, interval=0.05)


def test_refusals_are_one_line_and_change_nothing(lab: Lab, tmp_path: pathlib.Path) -> None:
    daemons = start_group(lab, tmp_path, skews={"h1": 0})
    wait_for_stable_master(daemons, "h1")
    daemon = daemons["h1"]
    cases = [
        (("state", "9@eth0", "master"), 1, "no group 9@eth0"),
        (("state", "1@eth0", "sideways"), 2, "sideways"),
        (("demote", "+x"), 2, "+x"),
    ]
    for command, status, said in cases:
        done = daemon.control(*command)
        assert done.returncode == status, (command, done.stdout, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, done.stderr
        assert said in lines[0]
        assert "Traceback" not in done.stderr
    assert group_status(daemon)["state"] == "MASTER"
    refused = [e for e in daemon.events() if e["event"] == "control" and not e["ok"]]
    assert [e["command"] for e in refused] == ["state"]  # the others never left the CLI
    daemon.stop()
    done = daemon.control("status")  # the daemon is gone: its socket with it
    assert done.returncode == 1
    assert len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr


def test_sigusr2_hands_over_as_ucarp_does(lab: Lab, tmp_path: pathlib.Path) -> None:
    daemons = start_group(lab, tmp_path, skews={"h1": 0, "h2": 100})
    wait_for_stable_master(daemons, "h1")
    h1, h2 = (str(lab.ipv4(n).ip) for n in ("h1", "h2"))
    with AdvertCapture(lab, tmp_path / "adverts.pcap") as capture:
        daemons["h1"].signal(signal.SIGUSR2)
        wait_status(daemons["h2"], "MASTER", timeout=3)
        adverts = capture.adverts()
    [bow_out] = [a for a in adverts if a.source == h1 and a.advert.advbase == 255]
    first = min(a.timestamp for a in adverts if a.source == h2 and a.advert.advbase == 1)
    assert 100 / 256 - 0.05 <= first - bow_out.timestamp <= 100 / 256 + BOW_OUT_MARGIN
    [asked] = [e for e in daemons["h1"].events() if e["event"] == "control"]
    assert (asked["command"], asked["uid"], asked["message"]) == (
        "SIGUSR2",
        -1,
        "1 master(s) handed over",
    )
    # Not maintenance: no demotion; without preempt h1 stays backup while h2 advertises.
    time.sleep(master_down(0) + 0.5)
    status = group_status(daemons["h1"])
    assert (status["state"], status["advskew_on_wire"]) == ("BACKUP", 0)
    assert daemons["h1"].alive()
