"""Who may use the socket: the file's mode keeps strangers out, the peer check refuses the rest.

The clients run as other users through setpriv (root needed): a refusal can only be tested
with a uid that is really refused.
"""

from __future__ import annotations

import json
import os

import pytest

from .support import as_user, public_directory, serving

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="needs root: the clients run as other uids through setpriv"
)

NOBODY = 65534  # user nobody, primary group nogroup (65534)
DAEMON = 1  # user daemon, group daemon (1): in no control group used here

STATUS_CLI = "from pycarp.cli.main import main; raise SystemExit(main({argv!r}))"
RAW = """
import json, socket
s = socket.socket(socket.AF_UNIX)
s.connect({path!r})
s.sendall(b'{{"v":1,"command":"maintenance","on":true}}\\n')
print(s.makefile().readline(), end="")
"""


def cli(uid: int, gid: int, *argv: str) -> tuple[int, str, str]:
    done = as_user(uid, gid, STATUS_CLI.format(argv=list(argv)))
    assert "Traceback" not in done.stderr
    return done.returncode, done.stdout, done.stderr


def test_a_stranger_cannot_connect_and_is_told_whom_to_ask() -> None:
    with public_directory() as directory, serving(directory / "c.sock", group="nogroup") as s:
        code, out, err = cli(DAEMON, DAEMON, "status", "--control", str(s.path))
    assert code == 1
    assert out == ""
    assert err == f"pycarp: error: not permitted to use {s.path}: ask root or join group nogroup\n"
    assert s.events == []  # the file mode stopped it before the daemon saw anything


def test_a_member_of_the_control_group_is_served() -> None:
    with public_directory() as directory, serving(directory / "c.sock", group="nogroup") as s:
        code, out, err = cli(NOBODY, NOBODY, "maintenance", "on", "--control", str(s.path))
    assert (code, err) == (0, "")
    assert out == "maintenance on: 2 groups advertise advskew 240\n"
    assert s.controller.calls == [("maintenance", True, NOBODY)]
    assert [(e.uid, e.ok) for e in s.events] == [(NOBODY, True)]


def test_membership_by_the_group_database_counts_too() -> None:
    """gid daemon, but nobody's groups (getgrouplist) include nogroup: served."""
    with public_directory() as directory, serving(directory / "c.sock", group="nogroup") as s:
        os.chmod(s.path, 0o666)  # let the connection reach the peer check
        done = as_user(NOBODY, DAEMON, RAW.format(path=str(s.path)))
    assert json.loads(done.stdout)["ok"] is True


def test_a_loosened_socket_still_refuses_strangers_and_reports_it() -> None:
    with public_directory() as directory, serving(directory / "c.sock", group="nogroup") as s:
        os.chmod(s.path, 0o666)  # a mistake by someone: the peer check still holds
        done = as_user(DAEMON, DAEMON, RAW.format(path=str(s.path)))
    assert json.loads(done.stdout) == {
        "v": 1,
        "ok": False,
        "error": "not_permitted",
        "message": "uid 1 may not use this socket: only root, the daemon's user and group "
        "nogroup may",
    }
    assert s.controller.calls == []
    [event] = s.events
    assert (event.uid, event.command, event.ok, dict(event.arguments)) == (
        DAEMON,
        "maintenance",
        False,
        {"on": True},
    )


def test_without_a_control_group_only_root_and_the_daemon_user_may() -> None:
    with public_directory() as directory, serving(directory / "c.sock", group=None) as s:
        os.chmod(s.path, 0o666)
        done = as_user(NOBODY, NOBODY, RAW.format(path=str(s.path)))
    reply = json.loads(done.stdout)
    assert reply["error"] == "not_permitted"
    assert reply["message"] == (
        "uid 65534 may not use this socket: only root and the daemon's user may"
    )
