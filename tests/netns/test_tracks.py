"""Health tracks on the real kernel: the address follows a web service, an interface and a file.

Two hosts run pycarp from a TOML file (``[[track]]`` + ``[[group]]``), h1 preferred (advskew
0) over h2 (100), each with a web server (``python3 -m http.server``) its track checks. Killing
h1's server (by PID) must move the address to h2, and a client asking the virtual address must
then get h2's page; the server's return moves it back exactly once with preempt on h1, never
without. Timings are measured from the kill and bounded by the configuration:
``fall x interval`` (failures needed) + ``interval`` (the kill lands just after a check) + one
advert interval of the host taking over (its skew after a bow-out, or the demoted master's next
advert, which a preempting backup answers) + :data:`MARGIN`.
"""

from __future__ import annotations

import pathlib
import time
import typing

import pytest

from pycarp.lab import Lab
from pycarp.lab.checks import holds
from pycarp.lab.daemons import Daemon, start_pycarp, wait_for
from pycarp.lab.naming import CLIENT
from pycarp.lab.services import check_argv, get, kill_web, start_web, write_tracked_config

from .support import advert_interval, changes_of, wait_for_stable_master, wait_started

VIP = "198.51.100.100"
SKEWS = {"h1": 0, "h2": 100}
INTERVAL = 0.5
FALL = 2
RISE = 2
CHECK_TIMEOUT = 0.4  # a refused connection fails at once; a live page answers in ~0.1 s
# A loaded 2-core machine: a check is an interpreter start (~0.1-0.2 s), the daemon reacts to
# its result, and the kernel's address shows up in our polling.
MARGIN = 0.6
SETTLE = 3 * 1.0 + 0.5  # three advert intervals: long enough for a takeover that must not happen


def move_bound(taker: str) -> float:
    """Seconds from the service's death to the address on ``taker``, from the configuration."""
    return FALL * INTERVAL + INTERVAL + advert_interval(SKEWS[taker]) + MARGIN


def rise_bound(taker: str) -> float:
    """The same for the way back (``rise`` successes), once the server answers again."""
    return RISE * INTERVAL + INTERVAL + advert_interval(SKEWS[taker]) + MARGIN


def group(lab: Lab, node: str, *, preempt: bool) -> dict[str, object]:
    return {
        "interface": "eth0",
        "source": str(lab.ipv4(node).ip),
        "vhid": 1,
        "pass_env": "PYCARP_PASS",
        "addresses": [f"{VIP}/24"],
        "advbase": 1,
        "advskew": SKEWS[node],
        "preempt": preempt,
    }


def web_track(lab: Lab, node: str, **more: object) -> dict[str, object]:
    return {
        "name": "web",
        "script": check_argv(str(lab.ipv4(node).ip), CHECK_TIMEOUT),
        "interval": INTERVAL,
        "timeout": CHECK_TIMEOUT,
        "fall": FALL,
        "rise": RISE,
        **more,
    }


def start_pair(
    lab: Lab,
    workdir: pathlib.Path,
    tracks: typing.Mapping[str, list[dict[str, object]]],
    preempt: typing.Mapping[str, bool],
) -> dict[str, Daemon]:
    """pycarp on h1 then h2 (h1 master for sure), each from its own TOML file."""
    daemons = {}
    for node in ("h1", "h2"):
        path = write_tracked_config(
            workdir / f"{node}.toml", [group(lab, node, preempt=preempt[node])], tracks[node]
        )
        daemons[node] = start_pycarp(lab, node, ["--config", str(path)], workdir=workdir)
        wait_started(daemons[node])
    wait_for_stable_master(daemons, "h1")
    return daemons


def takeover_at(daemon: Daemon, after: float) -> float:
    """Wall time of the daemon's last BACKUP -> MASTER for vhid 1 after ``after``."""
    found = [
        e["wall"]
        for e in daemon.events("state_changed")
        if e["vhid"] == 1 and e["new"] == "MASTER" and e["wall"] >= after
    ]
    assert found, f"{daemon.node} did not become master after {after}"
    return float(found[-1])


def wait_holder(lab: Lab, node: str, timeout: float) -> float:
    """Wall time at which ``node`` holds the virtual address (and nobody else does)."""
    other = "h2" if node == "h1" else "h1"
    wait_for(lambda: holds(lab, node, VIP) and not holds(lab, other, VIP), timeout, 0.01)
    return time.time()


def masters_taken(daemon: Daemon) -> int:
    return sum(1 for _old, new, _why in changes_of(daemon) if new == "MASTER")


def fail_over_on_service_death(
    lab: Lab, daemons: dict[str, Daemon], servers: dict[str, typing.Any], label: str
) -> None:
    """Kill h1's web server: the address and the client's answers move to h2, in bound."""
    killed_at = kill_web(servers["h1"])
    held_at = wait_holder(lab, "h2", move_bound("h2") + 2)
    master_at = takeover_at(daemons["h2"], killed_at)
    print(
        f"{label}: kill -> address on h2 {held_at - killed_at:.2f} s, -> h2 MASTER "
        f"{master_at - killed_at:.2f} s (bound {move_bound('h2'):.2f} s)"
    )
    assert held_at - killed_at <= move_bound("h2")
    assert master_at - killed_at <= move_bound("h2")
    assert get(lab, CLIENT, VIP) == "pycarp-lab h2"


@pytest.mark.parametrize("preempt", [True, False], ids=["preempt", "no-preempt"])
def test_fault_track_follows_the_web_server(
    lab: Lab, tmp_path: pathlib.Path, preempt: bool
) -> None:
    """Fault mode: h1 bows out when its service is down (h2 needs no preempt for that); the
    way back depends on h1's preempt only."""
    servers = {node: start_web(lab, node, tmp_path) for node in ("h1", "h2")}
    tracks = {node: [web_track(lab, node)] for node in ("h1", "h2")}
    daemons = start_pair(lab, tmp_path, tracks, {"h1": preempt, "h2": False})
    assert get(lab, CLIENT, VIP) == "pycarp-lab h1"
    fail_over_on_service_death(lab, daemons, servers, f"fault, preempt {preempt}")
    [changed] = daemons["h1"].events("track_changed")
    assert (changed["up"], changed["fault"], changed["reason"]) == (
        False,
        True,
        f"{FALL} failures in a row",
    )
    taken = masters_taken(daemons["h1"])

    restarted_at = time.time()
    servers["h1"] = start_web(lab, "h1", tmp_path)
    if preempt:
        held_at = wait_holder(lab, "h1", rise_bound("h1") + 2)
        print(f"fault, preempt: web server back -> address on h1 {held_at - restarted_at:.2f} s")
        assert held_at - restarted_at <= rise_bound("h1")
        time.sleep(SETTLE)
        assert masters_taken(daemons["h1"]) == taken + 1  # exactly one more takeover
        assert get(lab, CLIENT, VIP) == "pycarp-lab h1"
    else:
        daemons["h1"].wait_for_event("track_changed", rise_bound("h1"), up=True)
        time.sleep(SETTLE)
        assert masters_taken(daemons["h1"]) == taken
        assert holds(lab, "h2", VIP)
        assert not holds(lab, "h1", VIP)
    assert masters_taken(daemons["h2"]) == 1


def test_weight_track_moves_the_address_through_the_peers_preempt(
    lab: Lab, tmp_path: pathlib.Path
) -> None:
    """Weight mode: h1 keeps advertising, at advskew 0 + 200 = 200, worse than h2's 100, so
    only a preempting h2 takes over (weight is a preference, not a hand-over); h1's preempt
    takes it back once the demotion is gone."""
    servers = {node: start_web(lab, node, tmp_path) for node in ("h1", "h2")}
    tracks = {node: [web_track(lab, node, weight=200)] for node in ("h1", "h2")}
    daemons = start_pair(lab, tmp_path, tracks, {"h1": True, "h2": True})
    fail_over_on_service_death(lab, daemons, servers, "weight 200")
    [changed] = daemons["h1"].events("track_changed")
    assert (changed["up"], changed["fault"], changed["demotion"]) == (False, False, 200)
    [h1_group] = daemons["h1"].status()["groups"]
    assert (h1_group["state"], h1_group["advskew_on_wire"]) == ("BACKUP", 200)

    restarted_at = time.time()
    servers["h1"] = start_web(lab, "h1", tmp_path)
    held_at = wait_holder(lab, "h1", rise_bound("h1") + 2)
    print(f"weight 200: web server back -> address on h1 {held_at - restarted_at:.2f} s")
    assert held_at - restarted_at <= rise_bound("h1")
    time.sleep(SETTLE)
    assert masters_taken(daemons["h1"]) == 2
    assert masters_taken(daemons["h2"]) == 1


def test_interface_track_follows_the_uplink(lab: Lab, tmp_path: pathlib.Path) -> None:
    """An extra link in h1's namespace (a veth pair: carrier follows the peer) is its
    "uplink"; setting it down moves the address, up brings it back (preempt on h1)."""
    lab.exec("h1", ["ip", "link", "add", "up0", "type", "veth", "peer", "name", "up1"], check=True)
    for link in ("up0", "up1"):
        lab.exec("h1", ["ip", "link", "set", link, "up"], check=True)
    wait_for(lambda: lab.carrier("h1", "up0"), 5)
    uplink = {"name": "uplink", "interface": "up0", "interval": INTERVAL, "fall": FALL}
    uplink["rise"] = RISE
    daemons = start_pair(lab, tmp_path, {"h1": [uplink], "h2": []}, {"h1": True, "h2": False})

    cut_at = time.time()
    lab.exec("h1", ["ip", "link", "set", "up0", "down"], check=True)
    held_at = wait_holder(lab, "h2", move_bound("h2") + 2)
    print(f"interface down -> address on h2 {held_at - cut_at:.2f} s")
    assert held_at - cut_at <= move_bound("h2")
    [failed] = daemons["h1"].events("track_check_failed")
    assert failed["detail"].startswith(("no carrier", "operstate"))

    back_at = time.time()
    lab.exec("h1", ["ip", "link", "set", "up0", "up"], check=True)
    held_at = wait_holder(lab, "h1", rise_bound("h1") + 2)
    print(f"interface up -> address on h1 {held_at - back_at:.2f} s")
    assert held_at - back_at <= rise_bound("h1")
    assert masters_taken(daemons["h1"]) == 2


def test_file_track_demotion_shows_in_status_and_moves_the_address(
    lab: Lab, tmp_path: pathlib.Path
) -> None:
    """A number in a file is the demotion: 150 makes h1 (0 + 150) slower than h2 (100), whose
    preempt takes over; 30 shows in the status but keeps h1 faster; 0 restores it."""
    weight = tmp_path / "weight"
    weight.write_text("0\n")
    track = {"name": "app", "file": str(weight), "interval": INTERVAL, "fall": 1, "rise": 1}
    daemons = start_pair(lab, tmp_path, {"h1": [track], "h2": []}, {"h1": True, "h2": True})
    h1 = daemons["h1"]

    def shown() -> tuple[int, int]:
        [state] = h1.status()["tracks"]
        [grp] = h1.status()["groups"]
        return int(state["demotion"]), int(grp["advskew_on_wire"])

    weight.write_text("30\n")
    wait_for(lambda: shown() == (30, 30), INTERVAL + MARGIN, 0.05)
    time.sleep(SETTLE)
    assert holds(lab, "h1", VIP)  # 30 < 100: still the faster one

    written_at = time.time()
    weight.write_text("150\n")
    held_at = wait_holder(lab, "h2", INTERVAL + advert_interval(0) + MARGIN + 2)
    print(f"file 150 -> address on h2 {held_at - written_at:.2f} s")
    assert held_at - written_at <= INTERVAL + advert_interval(0) + MARGIN
    assert shown() == (150, 150)

    weight.write_text("0\n")
    wait_holder(lab, "h1", INTERVAL + advert_interval(SKEWS["h1"]) + MARGIN)
    assert shown() == (0, 0)
    assert masters_taken(h1) == 2
