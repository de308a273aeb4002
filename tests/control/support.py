"""Shared test pieces: a realistic status document, a fake daemon, a server in a thread.

The fake controller records every call, so tests assert what the daemon was asked to do; the
threaded server lets blocking clients (the CLI, subprocesses under another uid) talk to a real
socket served by the real :class:`ControlServer` in its own event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import dataclasses
import functools
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from pycarp.control.api import ControlError, DemoteMode
from pycarp.control.server import ControlServer
from pycarp.lab.daemons import why_user_cannot_run_pycarp
from pycarp.observe.facts import ControlRequest

SINCE = 1_764_590_000.0  # a fixed wall time the tests render against

STATUS: dict[str, Any] = {
    "v": 1,
    "pid": 4242,
    "instance": "pycarp",
    "uptime": 7385.2,
    "maintenance": False,
    "demotion": {"operator": 0},
    "interfaces": [
        {"interface": "eth0", "carrier": True, "drops": {"bad_ttl": 0, "bad_vhid": 3}},
        {"interface": "eth1", "carrier": False, "drops": {}},
    ],
    "groups": [
        {
            "group": "1@eth0",
            "vhid": 1,
            "interface": "eth0",
            "state": "MASTER",
            "since_wall": SINCE,
            "reason": "master-down timer expired",
            "addresses": ["198.51.100.100/24", "2001:db8::100/64"],
            "advbase": 1,
            "advskew": 0,
            "advskew_on_wire": 0,
            "preempt": True,
            "demotion": 0,
            "demotion_sources": {
                "carrier": 0,
                "send_errors": 0,
                "operator": 0,
                "group_operator": 0,
                "maintenance": 0,
                "tracks": 0,
            },
            "maintenance": False,
            "master": {"address": "198.51.100.1", "advbase": 1, "advskew": 0, "is_us": True},
            "why": "we advertise every 1.00 s and nobody faster is heard",
            "adverts_sent": 7380,
            "adverts_received": 2,
            "send_errors": 0,
            "drops": {"bad_hmac": 4, "bad_ttl": 0},
            "hooks": {"runs": 1, "failures": 0, "timeouts": 0},
        },
        {
            "group": "2@eth1",
            "vhid": 2,
            "interface": "eth1",
            "state": "BACKUP",
            "since_wall": SINCE - 400,
            "reason": "carrier lost on eth1",
            "addresses": ["198.51.100.101/24"],
            "advbase": 1,
            "advskew": 100,
            "advskew_on_wire": 240,
            "preempt": False,
            "demotion": 250,
            "demotion_sources": {
                "carrier": 240,
                "send_errors": 0,
                "operator": 0,
                "group_operator": 10,
                "maintenance": 0,
                "tracks": 0,
            },
            "maintenance": False,
            "master": {"address": "198.51.100.2", "advbase": 1, "advskew": 0, "is_us": False},
            "why": "198.51.100.2 advertises every 1.00 s, faster than our 1.39 s; preempt off",
            "adverts_sent": 12,
            "adverts_received": 7000,
            "send_errors": 3,
            "drops": {},
            "hooks": {"runs": 2, "failures": 1, "timeouts": 0},
        },
    ],
    "tracks": [
        {
            "name": "web",
            "kind": "script",
            "target": "/usr/bin/curl -fsS http://127.0.0.1/",
            "state": "down",
            "mode": "fault",
            "weight": None,
            "interval": 0.5,
            "timeout": 0.4,
            "fall": 2,
            "rise": 3,
            "consecutive": 7,
            "demotion": 240,
            "since_wall": SINCE + 30,
            "last_result": "failed",
            "last_detail": "exited with status 22",
            "last_exit_status": 22,
            "last_output": ["curl: (22) The requested URL returned error: 503"],
            "last_wall": SINCE + 42,
            "groups": ["1@eth0", "2@eth1"],
            "checks": {"ok": 118, "failed": 7, "timed_out": 1, "error": 0},
        },
        {
            "name": "uplink",
            "kind": "interface",
            "target": "eth2",
            "state": "up",
            "mode": "weight",
            "weight": 50,
            "interval": 1.0,
            "timeout": 1.0,
            "fall": 2,
            "rise": 2,
            "consecutive": 0,
            "demotion": 0,
            "since_wall": None,
            "last_result": None,
            "last_detail": "",
            "last_exit_status": None,
            "last_output": [],
            "last_wall": None,
            "groups": [],
            "checks": {"ok": 0, "failed": 0, "timed_out": 0, "error": 0},
        },
    ],
}


@dataclasses.dataclass
class FakeController:
    """Answers like a daemon; ``fail`` makes the next calls raise it."""

    calls: list[tuple[Any, ...]] = dataclasses.field(default_factory=list)
    document: dict[str, Any] = dataclasses.field(default_factory=lambda: copy.deepcopy(STATUS))
    fail: Exception | None = None

    def _check(self) -> None:
        if self.fail is not None:
            raise self.fail

    def status(self) -> dict[str, Any]:
        self.calls.append(("status",))
        self._check()
        return self.document

    def maintenance(self, on: bool, *, uid: int) -> str:
        self.calls.append(("maintenance", on, uid))
        self._check()
        return f"maintenance {'on' if on else 'off'}: 2 groups advertise advskew 240"

    def demote(self, mode: DemoteMode, amount: int, group: str | None, *, uid: int) -> str:
        self.calls.append(("demote", mode, amount, group, uid))
        self._check()
        if group not in (None, "1@eth0", "2@eth1"):
            raise ControlError("unknown_group", f"no group {group}: groups are 1@eth0, 2@eth1")
        return f"operator demotion {mode.value}{amount}"

    def force_state(self, group: str, state: str, *, uid: int) -> str:
        self.calls.append(("state", group, state, uid))
        self._check()
        return f"{group}: forced {state.upper()}"


@dataclasses.dataclass
class Running:
    path: pathlib.Path
    controller: FakeController
    events: list[ControlRequest]
    server: ControlServer


@contextlib.contextmanager
def serving(
    path: pathlib.Path, controller: FakeController | None = None, **options: Any
) -> Iterator[Running]:
    """A real ControlServer on ``path`` in a thread (its own loop) until the block ends."""
    controller = controller or FakeController()
    events: list[ControlRequest] = []
    server = ControlServer(path, controller, on_request=events.append, **options)
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    failure: list[BaseException] = []

    async def life() -> None:
        try:
            await server.start()
        except BaseException as error:
            failure.append(error)
            ready.set()
            return
        ready.set()
        task = asyncio.ensure_future(server.serve())
        await stop.wait()
        await server.close()
        assert task.done()

    stop = asyncio.Event()
    thread = threading.Thread(target=loop.run_until_complete, args=(life(),), daemon=True)
    thread.start()
    ready.wait(10)
    if failure:
        thread.join(10)
        loop.close()
        raise failure[0]
    try:
        yield Running(path, controller, events, server)
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        loop.close()


@contextlib.contextmanager
def public_directory() -> Iterator[pathlib.Path]:
    """A directory every uid can traverse (pytest's tmp_path is 0700 under root)."""
    directory = pathlib.Path(tempfile.mkdtemp(prefix="pycarp-ctl-"))
    os.chmod(directory, 0o755)
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@functools.cache
def _cannot_run(uid: int) -> str | None:
    return why_user_cannot_run_pycarp(uid)


def as_user(uid: int, gid: int, code: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -c code`` as another uid/gid with no supplementary groups (root only).

    Skips the test where that uid cannot start this interpreter at all (a checkout or chroot
    other users may not enter, as the fresh-machine check's): nothing about permissions on
    the control socket can be learnt there.
    """
    reason = _cannot_run(uid)
    if reason is not None:
        pytest.skip(f"uid {uid} cannot run {sys.executable} with pycarp here: {reason}")
    return subprocess.run(
        [
            "setpriv",
            f"--reuid={uid}",
            f"--regid={gid}",
            "--clear-groups",
            sys.executable,
            "-c",
            code,
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/"},
    )
