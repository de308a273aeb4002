"""How the lab reads a daemon: its ``--events`` lines, its states, its status document.

Checked without root and without a lab, on files written here: the reader must take a line
only once it is complete (the daemon may be half way through writing it), read each line once
however often it is polled, and a wait must end (found, timed out, or the process died), with
the daemon's last words when it died.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import typing

import pytest

from pycarp.lab.checks import group_statuses, history, last_state
from pycarp.lab.daemons import Daemon
from pycarp.lab.naming import LabError


def changed(vhid: int, old: str, new: str, mono: float) -> dict[str, typing.Any]:
    return {
        "event": "state_changed",
        "v": 1,
        "mono": mono,
        "wall": 1e9 + mono,
        "group": f"{vhid}@eth0",
        "vhid": vhid,
        "interface": "eth0",
        "old": old,
        "new": new,
        "reason": f"{old} to {new}",
        "cause": "timer",
    }


@pytest.fixture
def running() -> typing.Iterator[subprocess.Popen[bytes]]:
    """A live process standing in for the daemon, ended by its PID afterwards."""
    process = subprocess.Popen(["sleep", "60"])
    try:
        yield process
    finally:
        process.kill()
        process.wait()


def daemon_of(
    process: subprocess.Popen[bytes], tmp_path: pathlib.Path, kind: str = "pycarp"
) -> Daemon:
    events = tmp_path / "events.jsonl"
    return Daemon(kind, "h1", process, tmp_path / "daemon.log", events_path=events)


def append(path: pathlib.Path, text: str) -> None:
    with path.open("a") as stream:
        stream.write(text)


def test_events_take_complete_lines_once(
    running: subprocess.Popen[bytes], tmp_path: pathlib.Path
) -> None:
    daemon = daemon_of(running, tmp_path)
    assert daemon.events() == [], "no file yet: no events"
    assert daemon.events_path is not None
    first = json.dumps(changed(1, "INIT", "BACKUP", 1.0))
    second = json.dumps(changed(1, "BACKUP", "MASTER", 4.4))
    append(daemon.events_path, first + "\n" + second[:20])  # the second is half written
    assert [e["new"] for e in daemon.events()] == ["BACKUP"]
    append(daemon.events_path, second[20:] + "\n")
    assert [e["new"] for e in daemon.events()] == ["BACKUP", "MASTER"]
    assert [e["new"] for e in daemon.events()] == ["BACKUP", "MASTER"], "each line read once"
    assert daemon.events("group_started") == []
    assert daemon.state_changes() == [
        (1, "INIT", "BACKUP", "INIT to BACKUP"),
        (1, "BACKUP", "MASTER", "BACKUP to MASTER"),
    ]
    assert (history(daemon, 1), last_state(daemon, 1), last_state(daemon, 2)) == (
        ["BACKUP", "MASTER"],
        "MASTER",
        None,
    )


def test_wait_for_event_matches_fields_after_a_mark(
    running: subprocess.Popen[bytes], tmp_path: pathlib.Path
) -> None:
    daemon = daemon_of(running, tmp_path)
    assert daemon.events_path is not None
    lines = [changed(1, "INIT", "BACKUP", 1.0), changed(2, "INIT", "BACKUP", 1.1)]
    append(daemon.events_path, "".join(json.dumps(e) + "\n" for e in lines))
    assert daemon.wait_for_event("state_changed", 1.0, vhid=2)["mono"] == 1.1
    with pytest.raises(LabError, match=r"no state_changed event \{'vhid': 1\} in 0.1 s"):
        daemon.wait_for_event("state_changed", 0.1, after=1, vhid=1)
    with pytest.raises(LabError, match="no state_changed event"):
        daemon.wait_for_event("state_changed", 0.1, new="MASTER")


def test_wait_for_event_ends_when_the_daemon_died(tmp_path: pathlib.Path) -> None:
    process = subprocess.Popen(["true"])
    process.wait()
    daemon = daemon_of(process, tmp_path)
    daemon.log_path.write_text("pycarp: error: no interface eth9\n")
    with pytest.raises(LabError, match=r"exited \(0\) before a group_started .*\n.*eth9"):
        daemon.wait_for_event("group_started", 30.0)


def test_ucarp_states_come_from_its_log(
    running: subprocess.Popen[bytes], tmp_path: pathlib.Path
) -> None:
    daemon = daemon_of(running, tmp_path, kind="ucarp")
    daemon.log_path.write_text(
        "[INFO] Local advertised ethernet address is [..]\n"
        "[WARNING] Switching to state: BACKUP\n"
        "[WARNING] Switching to state: MASTER\n"
    )
    assert daemon.states() == ["BACKUP", "MASTER"]
    assert last_state(daemon, vhid=1) == "MASTER", "ucarp runs one group: the vhid is moot"


def test_group_statuses_read_the_status_document() -> None:
    group = {
        "group": "1@eth0",
        "vhid": 1,
        "state": "BACKUP",
        "adverts_sent": 0,
        "drops": {"bad_auth": 3, "bad_ttl": 0},
        "master": {"address": "198.51.100.2", "advbase": 1, "advskew": 0, "is_us": False},
        "advskew_on_wire": 240,
    }
    alone = dict(group, vhid=2, group="2@eth0", state="MASTER", master=None, drops={})
    found = group_statuses({"v": 1, "groups": [group, alone]})
    assert found[1].drops == {"bad_auth": 3}, "reasons that counted nothing are left out"
    assert (found[1].master, found[1].advskew_on_wire) == ("198.51.100.2", 240)
    assert (found[2].state, found[2].master, found[2].drops) == ("MASTER", None, {})
