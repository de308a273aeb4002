"""Health checks that misbehave, and many of them, on the real kernel; bad track configuration.

A check that hangs is killed at its timeout (with nothing left running) and is a failure; a
check that flaps is smoothed by fall/rise; a hundred checks do not move the master's adverts;
a wrong ``[[track]]`` stops ``--check-config`` and the daemon with one line naming the key.
"""

from __future__ import annotations

import itertools
import pathlib
import statistics
import sys
import time

import pytest

from pycarp.lab import Lab
from pycarp.lab.capture import AdvertCapture
from pycarp.lab.daemons import LAB_PASSPHRASE, Daemon, start_pycarp
from pycarp.lab.namespaces import namespace_pids
from pycarp.lab.services import write_tracked_config

from .support import (
    advert_interval,
    advert_times,
    changes_of,
    spacing_deviation,
    wait_for_state,
    wait_started,
    write_script,
)
from .test_tracks import VIP, group, start_pair

INTERVAL = 0.5
# Adverts leave from the group's timer, never behind a check (runtime/tracks.py): with or
# without tracks the spacing may deviate from the interval by the event loop's latency on a
# loaded 2-core machine. The daemon tests allow 150 ms for a hook hanging beside the adverts;
# a hundred tracks forking twice a second is a heavier load, so the bound here is tighter only
# against the measured baseline: the tracks may add at most TRACK_JITTER to it.
JITTER_BOUND = 0.15
TRACK_JITTER = 0.05
CAPTURE_SECONDS = 8.0  # eight adverts at advbase 1


def cmdlines(lab: Lab, node: str) -> dict[int, str]:
    """The command line of every process in ``node``'s namespace, by PID (from /proc)."""
    found = {}
    for pid in namespace_pids(lab.namespace(node)):
        try:
            raw = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue  # exited meanwhile
        found[pid] = raw.replace(b"\0", b" ").decode(errors="replace").strip()
    return found


def test_a_hanging_check_is_killed_at_its_timeout_and_fails(
    lab: Lab, tmp_path: pathlib.Path
) -> None:
    # The script's own marker lets us find (by /proc) the processes it started.
    hang = write_script(tmp_path / "hang.sh", "sleep 60\n")
    track = {"name": "hang", "script": [str(hang)], "interval": 1.0, "timeout": 0.5, "fall": 1}
    path = write_tracked_config(tmp_path / "h1.toml", [group(lab, "h1", preempt=False)], [track])
    daemon = start_pycarp(lab, "h1", ["--config", str(path)], workdir=tmp_path)
    wait_started(daemon)
    failed = daemon.wait_for_event("track_check_failed", 5.0, name="hang")
    assert failed["result"] == "timed_out"
    assert failed["detail"] == "still running after 0.5s: killed"
    changed = daemon.wait_for_event("track_changed", 2.0, name="hang")
    assert (changed["up"], changed["reason"]) == (False, "first check: timed_out")
    # Three more checks, each killed: never more than one hanging check at a time, and none
    # left once killed (the script and its sleep, the whole process group).
    started = time.monotonic()
    most = 0
    while time.monotonic() - started < 3.0:
        running = [c for c in cmdlines(lab, "h1").values() if "sleep 60" in c or str(hang) in c]
        most = max(most, len(running))
        time.sleep(0.05)
    [track_status] = daemon.status()["tracks"]
    assert track_status["checks"]["timed_out"] >= 3
    assert 1 <= most <= 2  # the script and its sleep of one check
    daemon.stop()
    leftovers = [c for c in cmdlines(lab, "h1").values() if "sleep 60" in c or str(hang) in c]
    assert leftovers == []
    # Said once: the same timeout again and again is not a new event.
    assert len(daemon.events("track_check_failed")) == 1


def test_a_flapping_check_moves_the_address_at_most_once(lab: Lab, tmp_path: pathlib.Path) -> None:
    """The check fails and succeeds by turns, two checks (one second) each: with fall and rise
    3 it never has three of a kind in a row, so h1 stays master (at most one move allowed by
    the spec; here none happens because the pattern never reaches fall)."""
    counter = tmp_path / "count"
    flap = write_script(
        tmp_path / "flap.sh",
        f"n=0; [ -f {counter} ] && read n < {counter}; echo $((n + 1)) > {counter}\n"
        "[ $((n / 2 % 2)) -eq 0 ]\n",
    )
    track = {"name": "flap", "script": [str(flap)], "interval": INTERVAL, "fall": 3, "rise": 3}
    daemons = start_pair(lab, tmp_path, {"h1": [track], "h2": []}, {"h1": True, "h2": True})
    started = time.monotonic()
    time.sleep(10.0)
    checks_run = daemons["h1"].status()["tracks"][0]["checks"]
    print(f"flapping for {time.monotonic() - started:.1f} s: checks {checks_run}")
    assert checks_run["ok"] >= 6
    assert checks_run["failed"] >= 6
    moves = sum(1 for _o, new, _w in changes_of(daemons["h2"]) if new == "MASTER")
    assert moves <= 1
    assert daemons["h1"].events("track_changed") == []  # never three of a kind in a row


def master_spacing(lab: Lab, daemon: Daemon, tmp_path: pathlib.Path, tag: str) -> float:
    """The largest deviation of h1's advert gaps from its interval over CAPTURE_SECONDS."""
    with AdvertCapture(lab, tmp_path / f"adverts{tag}.pcap") as capture:
        begin = time.time()
        time.sleep(CAPTURE_SECONDS)
        adverts = capture.adverts()
    times = advert_times(adverts, str(lab.ipv4("h1").ip), 1, start=begin)
    assert len(times) >= CAPTURE_SECONDS - 1
    deviation = spacing_deviation(times, advert_interval(0))
    gaps = [b - a for a, b in itertools.pairwise(times)]
    print(
        f"{tag}: {len(times)} adverts, mean gap {statistics.mean(gaps) * 1000:.1f} ms, "
        f"max deviation {deviation * 1000:.1f} ms"
    )
    return deviation


def test_a_hundred_tracks_do_not_disturb_the_adverts(lab: Lab, tmp_path: pathlib.Path) -> None:
    """h1 alone (master after its master-down interval), once without tracks and once with 100
    script tracks at 0.5 s (200 forks a second, at most 8 at once)."""
    deviations = {}
    for tag, count in (("without", 0), ("with100", 100)):
        tracks = [
            {"name": f"t{n}", "script": ["true"], "interval": INTERVAL, "timeout": INTERVAL}
            for n in range(count)
        ]
        path = write_tracked_config(
            tmp_path / f"{tag}.toml", [group(lab, "h1", preempt=False)], tracks
        )
        daemon = start_pycarp(lab, "h1", ["--config", str(path)], workdir=tmp_path, tag=tag)
        wait_started(daemon)
        wait_for_state(daemon, "MASTER", timeout=10.0)
        deviations[tag] = master_spacing(lab, daemon, tmp_path, tag)
        if count:
            tracks_status = daemon.status()["tracks"]
            assert len(tracks_status) == count
            assert all(t["state"] == "up" for t in tracks_status)
            ran = sum(t["checks"]["ok"] for t in tracks_status)
            assert ran >= count * CAPTURE_SECONDS / INTERVAL / 2  # they really ran
        assert daemon.stop() == 0
    assert deviations["without"] < JITTER_BOUND
    assert deviations["with100"] < min(JITTER_BOUND, deviations["without"] + TRACK_JITTER)


BAD: dict[str, tuple[dict[str, object], str]] = {
    # A file track's file is read at run time only: it need not exist for these two.
    "unknown group": ({"name": "web", "file": "/run/w", "groups": ["7@eth0"]}, "track[1].groups"),
    "negative interval": ({"name": "web", "file": "/run/w", "interval": -1.0}, "track[1].interval"),
    "missing script": ({"name": "web", "script": ["/nonexistent/check"]}, "track[1].script"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_track_config_is_one_line_naming_the_key(
    lab: Lab, tmp_path: pathlib.Path, case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    track, key = BAD[case]
    path = write_tracked_config(tmp_path / "bad.toml", [group(lab, "h1", preempt=False)], [track])
    monkeypatch.setenv("PYCARP_PASS", LAB_PASSPHRASE)  # the group's pass_env: only tracks fail
    for extra in (["--check-config"], ["--events", "-"]):
        argv = [sys.executable, "-m", "pycarp", "--config", str(path), *extra]
        done = lab.exec("h1", argv, timeout=30)
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 2, (extra, done.stdout, done.stderr)
        assert len(lines) == 1, lines
        assert f"{path}: {key}" in lines[0], lines[0]
    assert VIP not in lab.exec("h1", ["ip", "-o", "addr"]).stdout
