"""The control server over a real Unix socket: requests, refusals, events, setup, teardown."""

from __future__ import annotations

import asyncio
import grp
import json
import logging
import os
import pathlib
import socket
import stat
import time
from typing import Any

import pytest

from pycarp.control import protocol
from pycarp.control.api import ControlError, DemoteMode
from pycarp.control.client import request
from pycarp.control.server import ControlServer, ControlSetupError

from .support import STATUS, FakeController, serving


def exchange(path: pathlib.Path, data: bytes, replies: int = 1) -> list[dict[str, Any]]:
    """Send raw bytes, read ``replies`` lines (fewer if the server closes)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.settimeout(5)
        connection.connect(str(path))
        connection.sendall(data)
        buffer = b""
        while buffer.count(b"\n") < replies:
            chunk = connection.recv(65536)
            if not chunk:
                break
            buffer += chunk
    return [json.loads(line) for line in buffer.splitlines()]


def test_status_round_trip_and_event(tmp_path: pathlib.Path) -> None:
    with serving(tmp_path / "c.sock", group=None) as running:
        reply = request(running.path, {"command": "status"}, 5)
    assert reply["ok"] is True
    assert reply["status"] == STATUS
    [event] = running.events
    assert (event.uid, event.command, event.ok) == (0, "status", True)


def test_each_command_reaches_the_controller_with_the_peer_uid(tmp_path: pathlib.Path) -> None:
    with serving(tmp_path / "c.sock", group=None) as running:
        answers = [
            request(running.path, payload, 5)
            for payload in (
                {"command": "maintenance", "on": True},
                {"command": "demote", "mode": "+", "amount": 20, "group": None},
                {"command": "demote", "mode": "=", "amount": 0, "group": "2@eth1"},
                {"command": "state", "group": "1@eth0", "state": "backup"},
            )
        ]
    assert [a["message"] for a in answers] == [
        "maintenance on: 2 groups advertise advskew 240",
        "operator demotion +20",
        "operator demotion =0",
        "1@eth0: forced BACKUP",
    ]
    assert running.controller.calls == [
        ("maintenance", True, 0),
        ("demote", DemoteMode.ADD, 20, None, 0),
        ("demote", DemoteMode.SET, 0, "2@eth1", 0),
        ("state", "1@eth0", "backup", 0),
    ]
    assert [(e.command, e.ok, dict(e.arguments)) for e in running.events] == [
        ("maintenance", True, {"on": True}),
        ("demote", True, {"mode": "+", "amount": 20, "group": None}),
        ("demote", True, {"mode": "=", "amount": 0, "group": "2@eth1"}),
        ("state", True, {"group": "1@eth0", "state": "backup"}),
    ]


def test_several_requests_on_one_connection(tmp_path: pathlib.Path) -> None:
    lines = b'{"v":1,"command":"maintenance","on":false}\n{"v":1,"command":"nope"}\n'
    with serving(tmp_path / "c.sock", group=None) as running:
        first, second = exchange(running.path, lines, replies=2)
    assert first["ok"] is True
    assert second == {
        "v": 1,
        "ok": False,
        "error": "bad_request",
        "message": "unknown command 'nope': one of status, maintenance, demote, state",
    }
    assert [(e.command, e.ok) for e in running.events] == [
        ("maintenance", True),
        ("invalid", False),
    ]


def test_bad_requests_are_refused_and_reported(tmp_path: pathlib.Path) -> None:
    with serving(tmp_path / "c.sock", group=None) as running:
        [not_json] = exchange(running.path, b"{oops\n")
        [no_version] = exchange(running.path, b'{"command":"status"}\n')
        [wrong_type] = exchange(running.path, b'{"v":1,"command":"maintenance","on":"yes"}\n')
    assert not_json["error"] == "bad_request"
    assert not_json["message"].startswith("request is not JSON")
    assert no_version["message"] == 'protocol version None not spoken here: send "v": 1'
    assert wrong_type["message"] == "maintenance: 'on' must be true or false, not a string"
    assert [(e.command, e.ok) for e in running.events] == [
        ("invalid", False),
        ("status", False),
        ("maintenance", False),
    ]
    assert running.controller.calls == []


def test_an_oversized_request_is_refused_and_the_connection_closed(tmp_path: pathlib.Path) -> None:
    huge = b'{"v":1,"command":"status","pad":"' + b"x" * protocol.MAX_REQUEST + b'"}\n'
    with serving(tmp_path / "c.sock", group=None) as running:
        replies = exchange(running.path, huge, replies=2)
        assert request(running.path, {"command": "status"}, 5)["ok"]  # still serving
    assert replies == [
        {
            "v": 1,
            "ok": False,
            "error": "bad_request",
            "message": f"request longer than {protocol.MAX_REQUEST} bytes",
        }
    ]


def test_a_silent_client_is_dropped_after_the_read_timeout(tmp_path: pathlib.Path) -> None:
    with (
        serving(tmp_path / "c.sock", group=None, read_timeout=0.2) as running,
        socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection,
    ):
        connection.settimeout(5)
        connection.connect(str(running.path))
        started = time.monotonic()
        assert connection.recv(100) == b""  # closed by the server, no reply
        assert time.monotonic() - started < 3
    assert running.events == []


def test_a_last_line_without_newline_is_answered(tmp_path: pathlib.Path) -> None:
    with (
        serving(tmp_path / "c.sock", group=None) as running,
        socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection,
    ):
        connection.connect(str(running.path))
        connection.sendall(b'{"v":1,"command":"status"}')
        connection.shutdown(socket.SHUT_WR)
        reply = json.loads(connection.makefile("rb").readline())
    assert reply["ok"] is True


def test_control_errors_keep_the_connection(tmp_path: pathlib.Path) -> None:
    lines = (
        b'{"v":1,"command":"demote","mode":"-","amount":5,"group":"9@eth9"}\n'
        b'{"v":1,"command":"status"}\n'
    )
    with serving(tmp_path / "c.sock", group=None) as running:
        refused, status = exchange(running.path, lines, replies=2)
    assert refused == {
        "v": 1,
        "ok": False,
        "error": "unknown_group",
        "message": "no group 9@eth9: groups are 1@eth0, 2@eth1",
    }
    assert status["ok"] is True
    assert running.events[0].ok is False
    assert running.events[0].message == refused["message"]


def test_a_controller_crash_is_internal_logged_and_survived(
    tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    controller = FakeController(fail=RuntimeError("bug\nsecond line"))
    lines = b'{"v":1,"command":"maintenance","on":true}\n{"v":1,"command":"status"}\n'
    with serving(tmp_path / "c.sock", controller, group=None) as running:
        with caplog.at_level(logging.ERROR, logger="pycarp.control"):
            replies = exchange(running.path, lines, replies=2)
        controller.fail = None
        after = request(running.path, {"command": "status"}, 5)
    assert len(replies) == 1  # the connection was closed after the internal error
    assert replies[0]["error"] == "internal"
    assert "\n" not in replies[0]["message"]
    assert replies[0]["message"].startswith("maintenance failed inside the daemon")
    assert any(record.exc_info for record in caplog.records)
    assert after["ok"] is True
    assert (running.events[0].command, running.events[0].ok) == ("maintenance", False)


def test_an_unserialisable_status_is_an_internal_error(tmp_path: pathlib.Path) -> None:
    controller = FakeController()
    controller.document = {"v": 1, "bad": float("nan")}
    with serving(tmp_path / "c.sock", controller, group=None) as running:
        [reply] = exchange(running.path, b'{"v":1,"command":"status"}\n')
    assert reply["error"] == "internal"


def test_connections_over_the_limit_get_busy(tmp_path: pathlib.Path) -> None:
    with serving(tmp_path / "c.sock", group=None, max_connections=2) as running:
        idle = [socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) for _ in range(2)]
        for connection in idle:
            connection.connect(str(running.path))
        time.sleep(0.2)  # both accepted and holding a slot
        busy = request(running.path, {"command": "status"}, 5)
        for connection in idle:
            connection.close()
        time.sleep(0.2)
        served = request(running.path, {"command": "status"}, 5)
    assert busy["error"] == "busy"
    assert served["ok"] is True


def test_socket_file_mode_owner_and_group(tmp_path: pathlib.Path) -> None:
    nogroup = grp.getgrnam("nogroup").gr_gid
    with serving(tmp_path / "run" / "sub" / "c.sock", group="nogroup") as running:
        info = running.path.stat()
        parent = running.path.parent.stat()
    assert stat.S_ISSOCK(info.st_mode)
    assert stat.S_IMODE(info.st_mode) == 0o660
    assert (info.st_uid, info.st_gid) == (os.geteuid(), nogroup)
    assert stat.S_IMODE(parent.st_mode) == 0o755
    assert not running.path.exists()  # close() removed it


def test_without_a_control_group_the_socket_has_the_daemons_gid(tmp_path: pathlib.Path) -> None:
    with serving(tmp_path / "c.sock", group=None) as running:
        assert running.path.stat().st_gid == os.getegid()


def start(path: pathlib.Path, group: str | None = None) -> None:
    async def attempt() -> None:
        server = ControlServer(path, FakeController(), group=group, on_request=lambda _f: None)
        await server.start()
        await server.close()

    asyncio.run(attempt())


def test_an_unknown_control_group_is_one_clear_error(tmp_path: pathlib.Path) -> None:
    with pytest.raises(ControlSetupError) as error:
        start(tmp_path / "c.sock", group="no-such-group-here")
    assert str(error.value) == (
        "control group 'no-such-group-here' does not exist: give an existing group "
        "(getent group NAME) or none"
    )


def test_a_live_daemon_on_the_path_is_not_replaced(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "c.sock"
    with serving(path, group=None):
        with pytest.raises(ControlSetupError) as error:
            start(path)
        assert path.exists()
    assert str(error.value) == f"another pycarp answers on {path}: give --control"


def test_a_stale_socket_is_removed(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "c.sock"
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))
    stale.close()  # the file stays, nobody listens: what a crash leaves
    with serving(path, group=None) as running:
        assert request(running.path, {"command": "status"}, 5)["ok"]


def test_a_regular_file_on_the_path_is_left_alone(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "c.sock"
    path.write_text("precious")
    with pytest.raises(ControlSetupError) as error:
        start(path)
    assert str(error.value) == f"{path} exists and is not a socket: remove it or give --control"
    assert path.read_text() == "precious"


def test_close_leaves_a_socket_that_is_no_longer_ours(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "c.sock"
    with serving(path, group=None):
        path.unlink()
        other = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        other.bind(str(path))
    assert path.exists()
    other.close()


def test_close_stops_a_running_serve_and_its_connections(tmp_path: pathlib.Path) -> None:
    async def scenario() -> None:
        path = tmp_path / "c.sock"
        server = ControlServer(path, FakeController(), group=None, on_request=lambda _f: None)
        await server.start()
        async with asyncio.TaskGroup() as tasks:
            serve = tasks.create_task(server.serve())
            reader, writer = await asyncio.open_unix_connection(str(path))
            await asyncio.sleep(0.05)  # one idle connection handled by serve()
            await server.close()
            assert serve.done()
            assert await reader.read() == b""
            writer.close()
        assert not path.exists()

    asyncio.run(asyncio.wait_for(scenario(), 10))


def test_an_event_callback_failure_does_not_break_the_reply(tmp_path: pathlib.Path) -> None:
    def broken(_fact: object) -> None:
        raise ValueError("consumer bug")

    async def scenario() -> dict[str, Any]:
        path = tmp_path / "c.sock"
        server = ControlServer(path, FakeController(), group=None, on_request=broken)
        await server.start()
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(server.serve())
            reply = await asyncio.to_thread(request, path, {"command": "status"}, 5)
            await server.close()
        return reply

    assert asyncio.run(scenario())["ok"] is True


def test_control_error_fields() -> None:
    error = ControlError("conflict", "1@eth0 is in maintenance")
    assert protocol.error_reply(error.code, error.message) == {
        "v": 1,
        "ok": False,
        "error": "conflict",
        "message": "1@eth0 is in maintenance",
    }


def test_a_failed_accept_is_survived(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr("pycarp.control.server.ACCEPT_RETRY", 0.01)

    async def scenario() -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        real = loop.sock_accept
        failures = [OSError(24, "Too many open files")]

        async def flaky(listener: socket.socket) -> tuple[socket.socket, Any]:
            if failures:
                raise failures.pop()
            return await real(listener)

        monkeypatch.setattr(loop, "sock_accept", flaky)
        path = tmp_path / "c.sock"
        server = ControlServer(path, FakeController(), group=None, on_request=lambda _f: None)
        await server.start()
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(server.serve())
            reply = await asyncio.to_thread(request, path, {"command": "status"}, 5)
            await server.close()
        return reply

    assert asyncio.run(asyncio.wait_for(scenario(), 10))["ok"] is True
    assert "cannot accept: [Errno 24] Too many open files" in caplog.text
