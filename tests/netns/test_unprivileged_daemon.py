"""pycarp as a plain user with only CAP_NET_RAW and CAP_NET_ADMIN, as pycarp.service runs it.

h1 runs pycarp as user nobody through ``setpriv`` with those two capabilities in its inheritable,
ambient and bounding sets and no_new_privs (what the unit's ``User=``, ``AmbientCapabilities=``,
``CapabilityBoundingSet=`` and ``NoNewPrivileges=`` give it); h2 runs it as root, with a
higher advskew. The unprivileged daemon must do everything the root one does: win the election
and hold the address, clean up after itself on SIGTERM, and be taken over from after a kill -9.
Its control socket, state directory and events file live in a directory nobody owns (the lab's
run directory is root's).
"""

from __future__ import annotations

import json
import os
import pathlib
import sys
import tempfile
from collections.abc import Iterator

import pytest

from pycarp.lab import Lab
from pycarp.lab.daemons import (
    NOBODY,
    Daemon,
    as_user,
    pycarp_args,
    start_pycarp,
    wait_for,
    why_user_cannot_run_pycarp,
)

from .support import (
    ELECTION_TIMEOUT,
    advert_interval,
    changes_of,
    held_ips,
    wait_for_state,
    wait_started,
    write_script,
)

VIP = "198.51.100.100/24"
NET_RAW_AND_NET_ADMIN = (1 << 12) | (1 << 13)

# A --notify hook that records who it runs as: argv, uid and effective capabilities.
WHOAMI = """python3 -c '
import json, os, sys
status = open("/proc/self/status").read().splitlines()
eff = int(next(l for l in status if l.startswith("CapEff:")).split()[1], 16)
print(json.dumps({{"argv": sys.argv[1:], "uid": os.getuid(), "eff": eff}}))
' "$@" >> {record}
"""


@pytest.fixture
def lab2(root: None) -> Iterator[Lab]:
    """Two hosts on one switch, torn down after the test."""
    reason = why_user_cannot_run_pycarp()
    if reason is not None:
        pytest.skip(f"user nobody cannot run {sys.executable} with pycarp here: {reason}")
    with Lab.create(hosts=2) as built:
        yield built


@pytest.fixture
def nobodys_dir() -> Iterator[pathlib.Path]:
    """A directory only nobody (and root) may write: its socket, state and events go there."""
    with tempfile.TemporaryDirectory(prefix="pycarp-nobody-") as name:
        folder = pathlib.Path(name)
        os.chown(folder, NOBODY, NOBODY)
        folder.chmod(0o700)
        yield folder


def start_pair(
    lab: Lab, workdir: pathlib.Path, folder: pathlib.Path, extra: tuple[str, ...] = ()
) -> tuple[Daemon, Daemon]:
    """Unprivileged h1 (advskew 0, started first: it becomes master), root h2 (advskew 100)."""
    own = ["--control", str(folder / "h1.sock"), "--state-dir", str(folder / "state")]
    own += ["--events", str(folder / "events.jsonl")]
    h1_args = pycarp_args(lab, "h1", addresses=[VIP], advskew=0, extra=[*own, *extra])
    h1 = wait_started(start_pycarp(lab, "h1", h1_args, workdir=workdir, wrapper=as_user()))
    h2_args = pycarp_args(lab, "h2", addresses=[VIP], advskew=100)
    h2 = wait_started(start_pycarp(lab, "h2", h2_args, workdir=workdir))
    return h1, h2


def proc_status(pid: int) -> dict[str, str]:
    lines = pathlib.Path(f"/proc/{pid}/status").read_text().splitlines()
    return dict(line.split(":\t", 1) for line in lines if ":\t" in line)


def test_an_unprivileged_master_holds_the_address_and_a_root_backup_takes_over_after_kill_9(
    lab2: Lab, tmp_path: pathlib.Path, nobodys_dir: pathlib.Path
) -> None:
    lab = lab2
    h1, h2 = start_pair(lab, tmp_path, nobodys_dir)
    status = proc_status(h1.pid)
    assert status["Uid"].split()[:2] == [str(NOBODY)] * 2, status["Uid"]
    assert int(status["CapEff"], 16) == NET_RAW_AND_NET_ADMIN
    assert int(status["CapBnd"], 16) == NET_RAW_AND_NET_ADMIN
    assert status["NoNewPrivs"] == "1"  # as under NoNewPrivileges=yes

    wait_for_state(h1, "MASTER", timeout=ELECTION_TIMEOUT)
    wait_for(lambda: held_ips(lab, "h1") == {"198.51.100.100"}, 2.0)
    assert held_ips(lab, "h2") == set()
    assert changes_of(h2) == [("INIT", "BACKUP", "started")]

    h1.kill()
    wait_for_state(h2, "MASTER", timeout=ELECTION_TIMEOUT)
    wait_for(lambda: held_ips(lab, "h2") == {"198.51.100.100"}, 2.0)


def test_sigterm_of_an_unprivileged_master_releases_the_address_and_its_hooks_get_nothing(
    lab2: Lab, tmp_path: pathlib.Path, nobodys_dir: pathlib.Path
) -> None:
    lab = lab2
    record = nobodys_dir / "hooks.jsonl"
    hook = write_script(nobodys_dir / "whoami", WHOAMI.format(record=record))
    h1, h2 = start_pair(lab, tmp_path, nobodys_dir, extra=("--notify", str(hook)))
    wait_for_state(h1, "MASTER", timeout=ELECTION_TIMEOUT)
    wait_for(lambda: held_ips(lab, "h1") == {"198.51.100.100"}, 2.0)

    assert h1.stop() == 0
    assert changes_of(h1)[-1][:2] == ("MASTER", "INIT")
    assert held_ips(lab, "h1") == set(), "the unprivileged master kept the address"
    wait_for_state(h2, "MASTER", timeout=advert_interval(0) + 1.0)  # a bow-out, not a timeout
    wait_for(lambda: held_ips(lab, "h2") == {"198.51.100.100"}, 2.0)

    runs = [json.loads(line) for line in record.read_text().splitlines()]
    assert [run["argv"] for run in runs] == [
        ["1@eth0", "BACKUP"],
        ["1@eth0", "MASTER"],
        ["1@eth0", "INIT"],
    ]
    # Native addresses: the daemon's two capabilities are not passed on to a notify hook.
    assert {(run["uid"], run["eff"]) for run in runs} == {(NOBODY, 0)}


def test_check_config_as_nobody_on_the_host_it_is_for(lab2: Lab, nobodys_dir: pathlib.Path) -> None:
    """No capability at all: the values and the host (eth0 and its source) are checked."""
    lab = lab2
    config = nobodys_dir / "web.toml"
    config.write_text(
        "[[group]]\n"
        'interface = "eth0"\n'
        f'source = "{lab.ipv4("h1").ip}"\n'
        "vhid = 1\n"
        'passphrase = "secret"\n'
        f'addresses = ["{VIP}"]\n'
    )
    config.chmod(0o644)
    argv = [*as_user(capabilities=()), sys.executable, "-m", "pycarp"]
    done = lab.exec("h1", [*argv, "--config", str(config), "--check-config"])
    assert (done.returncode, done.stderr) == (0, ""), done.stderr
    lines = done.stdout.splitlines()
    assert lines[:2] == [
        f"configuration valid: 1 group from {config}",
        "  1@eth0: 198.51.100.100/24; advbase 1, advskew 0 (every 1.00 s); native addresses",
    ]
    assert "host: every interface exists and every source is one of its addresses" in lines
    assert lines[-1].startswith("privileges: this process lacks CAP_NET_RAW and CAP_NET_ADMIN")
    assert lab.virtual_addresses("h1") == []

    elsewhere = lab.exec("h2", [*argv, "--config", str(config), "--check-config"])
    assert (elsewhere.returncode, elsewhere.stdout) == (2, "")
    assert elsewhere.stderr.startswith(f"pycarp: error: {config}: group[1].source: ")
