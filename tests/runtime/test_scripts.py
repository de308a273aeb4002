"""Address modes (ucarp scripts vs native netlink), the notify hook and ``--shutdown``.

The scripts are real shell scripts in ``tmp_path`` that append their arguments and PYCARP_*
environment to a log file, so these tests see exactly what an operator's script would.
On the wall clock (``run_on_wall_clock``): the hooks are real processes, whose time the
virtual clock of the other runtime tests cannot see.
"""

from __future__ import annotations

import ipaddress
import pathlib
from typing import Any

import pytest

from pycarp.core.table import State

from .fakes import AddressCall, FakeHost, FakeSegment
from .support import (
    Node,
    ScriptCall,
    group,
    read_calls,
    recording_script,
    run_on_wall_clock,
    running,
    stop,
    wait_until,
)

SOURCE = "198.51.100.1"
ADDRESSES = ("198.51.100.100/24", "198.51.100.101/24")
IPS = [str(ipaddress.ip_interface(a).ip) for a in ADDRESSES]


def single_node(**extra: Any) -> Node:
    host = FakeHost(SOURCE, {"eth0": FakeSegment()})
    return Node(host, [group(source=SOURCE, addresses=ADDRESSES, **extra)])


def rounds(calls: list[ScriptCall]) -> list[tuple[str, list[str]]]:
    return [(c.script, c.argv) for c in calls]


@pytest.mark.parametrize("mode", ["auto", "scripts", "native"])
def test_scripts_run_per_address_and_only_native_mode_touches_addresses(
    tmp_path: pathlib.Path, mode: str
) -> None:
    log = tmp_path / "calls.log"
    up = recording_script(tmp_path, "up", log)
    down = recording_script(tmp_path, "down", log)

    async def scenario() -> None:
        node = single_node(upscript=up, downscript=down, xparam="extra", address_mode=mode)
        async with running(node):
            await wait_until(lambda: node.state() is State.MASTER, 2, "master")
            await wait_until(lambda: len(read_calls(log)) == 4, 2, "down x2 at start, up x2")
            await wait_until(lambda: bool(node.host.announcer.calls), 1, "announced")
            assert await stop(node) == 0

        calls = read_calls(log)
        # ucarp's calling convention: SCRIPT <interface> <address> [xparam], once per address;
        # down at start-up (no --neutral), up on becoming master, down again on bowing out.
        expected = [(name, ["eth0", ip, "extra"]) for name in ("down", "up", "down") for ip in IPS]
        assert rounds(calls) == expected
        for call in calls:
            assert call.env["PYCARP_VHID"] == "1"
            assert call.env["PYCARP_INTERFACE"] == "eth0"
            assert call.env["PYCARP_ADDRESSES"] == " ".join(IPS)
        assert [(c.env["PYCARP_OLD_STATE"], c.env["PYCARP_NEW_STATE"]) for c in calls[::2]] == [
            ("INIT", "BACKUP"),
            ("BACKUP", "MASTER"),
            ("MASTER", "INIT"),
        ]
        assert calls[2].env["PYCARP_REASON"] == "master-down timer expired"
        # The announcement goes out once the addresses exist (after the up scripts).
        assert node.host.announcer.calls[0] == ("eth0", tuple(ipaddress.ip_address(i) for i in IPS))
        manager_calls = node.host.addresses.calls
        if mode == "native":
            prefixes = [ipaddress.ip_interface(a) for a in ADDRESSES]
            assert manager_calls == [
                *(AddressCall("remove", "eth0", p, False) for p in prefixes),  # stale clean-up
                *(AddressCall("add", "eth0", p, True) for p in prefixes),
                *(AddressCall("remove", "eth0", p, True) for p in prefixes),
            ]
        else:
            assert manager_calls == []  # the scripts own the addresses, as under ucarp

    run_on_wall_clock(scenario())


def test_notify_gets_vhid_at_interface_and_the_new_state(tmp_path: pathlib.Path) -> None:
    log = tmp_path / "notify.log"
    notify = recording_script(tmp_path, "notify", log)

    async def scenario() -> None:
        node = single_node(notify=f"{notify} --from-pycarp")
        async with running(node):
            await wait_until(lambda: node.state() is State.MASTER, 2, "master")
            await wait_until(lambda: len(read_calls(log)) == 2, 1, "notified twice")
            assert await stop(node) == 0
        calls = read_calls(log)
        assert [c.argv for c in calls] == [
            ["--from-pycarp", "1@eth0", "BACKUP"],
            ["--from-pycarp", "1@eth0", "MASTER"],
            ["--from-pycarp", "1@eth0", "INIT"],
        ]
        assert calls[1].env["PYCARP_OLD_STATE"] == "BACKUP"
        assert calls[2].env["PYCARP_REASON"] == "shutting down"
        # Native mode: the notify hook is not an address script, the addresses still moved.
        assert node.host.addresses.addresses("eth0") == set()
        assert any(c.verb == "add" and c.changed for c in node.host.addresses.calls)

    run_on_wall_clock(scenario())


@pytest.mark.parametrize(
    ("become_master", "expected"),
    [
        (False, []),  # a backup exits silently (ucarp -z: "if not BACKUP")
        (True, ["up", "up", "down", "down"]),  # a master runs it once, with the bow-out
    ],
)
def test_a_master_runs_the_down_script_on_exit_a_backup_does_not(
    tmp_path: pathlib.Path, become_master: bool, expected: list[str]
) -> None:
    log = tmp_path / "calls.log"
    up = recording_script(tmp_path, "up", log)
    down = recording_script(tmp_path, "down", log)

    async def scenario() -> None:
        node = single_node(
            upscript=up,
            downscript=down,
            neutral=True,
            dead_ratio=1 if become_master else 10,
        )
        async with running(node):
            if become_master:
                await wait_until(lambda: len(read_calls(log)) == 2, 2, "up scripts ran")
            else:
                await wait_until(lambda: node.state() is State.BACKUP, 1, "backup")
            assert read_calls(log) == [] or become_master  # --neutral: no down at start
            assert await stop(node) == 0
        calls = read_calls(log)
        assert [c.script for c in calls] == expected
        assert all(c.argv[:2] == ["eth0", IPS[i % 2]] for i, c in enumerate(calls))

    run_on_wall_clock(scenario())
