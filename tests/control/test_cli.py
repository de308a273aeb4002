"""``pycarp status|maintenance|demote|state`` against a real server: output and exit codes."""

from __future__ import annotations

import json
import pathlib

import pytest

from pycarp.cli import controlling
from pycarp.cli.main import main as pycarp_main
from pycarp.control.api import ControlError, DemoteMode

from .support import STATUS, serving


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = pycarp_main(list(argv))
    except SystemExit as exit_:  # argparse: --help, usage errors
        code = int(exit_.code or 0)
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def test_status_json_prints_the_document(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with serving(tmp_path / "c.sock", group=None) as s:
        code, out, err = run(capsys, "status", "--json", "--control", str(s.path))
    assert (code, err) == (0, "")
    assert json.loads(out) == STATUS


def test_status_for_people(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    with serving(tmp_path / "c.sock", group=None) as s:
        code, out, _err = run(capsys, "status", "--control", str(s.path))
    assert code == 0
    assert out.startswith("pycarp pycarp (pid 4242, up 2h03m): maintenance off")
    assert "\n1@eth0  MASTER since " in out
    assert "  why        198.51.100.2 advertises every 1.00 s, faster than our 1.39 s" in out


def test_status_watch_redraws_until_ctrl_c(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr("pycarp.cli.status.time.sleep", sleep)
    with serving(tmp_path / "c.sock", group=None) as s:
        code, out, err = run(capsys, "status", "--json", "--watch", "0.5", "--control", str(s.path))
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert len(lines) == 3
    assert all(json.loads(line) == STATUS for line in lines)
    assert all(0 < seconds <= 0.5 for seconds in sleeps)


def test_status_watch_keeps_going_through_a_daemon_restart(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "c.sock"
    rounds: list[int] = []
    with serving(path, group=None) as s:

        def sleep(_seconds: float) -> None:
            rounds.append(1)
            if len(rounds) == 1:
                s.controller.fail = ControlError("conflict", "restarting")
            else:
                raise KeyboardInterrupt

        monkeypatch.setattr("pycarp.cli.status.time.sleep", sleep)
        code, out, _err = run(capsys, "status", "--watch", "--control", str(path))
    assert code == 0
    assert "1@eth0  MASTER" in out
    assert out.rstrip().endswith("pycarp: error: restarting (retrying every 1 s)")


def test_status_watch_fails_at_once_without_a_daemon(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "none.sock"
    code, out, err = run(capsys, "status", "--watch", "--control", str(path))
    assert (code, out) == (1, "")
    assert err == f"pycarp: error: no pycarp daemon at {path} (is it running? --control)\n"


@pytest.mark.parametrize("value", ["0", "-1", "nan", "x", "5000"])
def test_status_watch_interval_is_checked(capsys: pytest.CaptureFixture[str], value: str) -> None:
    code, _out, err = run(capsys, "status", "--watch", value)
    assert code == 2
    assert err == (
        f"pycarp status: error: argument --watch: --watch {value!r}: give seconds from 0.1 "
        "to 3600\n"
    )


@pytest.mark.parametrize(
    ("argv", "answer", "call"),
    [
        (
            ["maintenance", "on"],
            "maintenance on: 2 groups advertise advskew 240",
            ("maintenance", True, 0),
        ),
        (
            ["maintenance", "off"],
            "maintenance off: 2 groups advertise advskew 240",
            ("maintenance", False, 0),
        ),
        (["demote", "+100"], "operator demotion +100", ("demote", DemoteMode.ADD, 100, None, 0)),
        (
            ["demote", "-5", "1@eth0"],
            "operator demotion -5",
            ("demote", DemoteMode.SUBTRACT, 5, "1@eth0", 0),
        ),
        (
            ["demote", "=0", "2@eth1"],
            "operator demotion =0",
            ("demote", DemoteMode.SET, 0, "2@eth1", 0),
        ),
        (["state", "1@eth0", "master"], "1@eth0: forced MASTER", ("state", "1@eth0", "master", 0)),
    ],
)
def test_steering_commands(
    tmp_path: pathlib.Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    answer: str,
    call: tuple[object, ...],
) -> None:
    with serving(tmp_path / "c.sock", group=None) as s:
        code, out, err = run(capsys, *argv, "--control", str(s.path))
    assert (code, out, err) == (0, answer + "\n", "")
    assert s.controller.calls == [call]


def test_a_refusal_exits_1(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    with serving(tmp_path / "c.sock", group=None) as s:
        code, out, err = run(capsys, "demote", "+1", "7@eth7", "--control", str(s.path))
    assert (code, out) == (1, "")
    assert err == "pycarp: error: no group 7@eth7: groups are 1@eth0, 2@eth1\n"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["demote", "5"],
            "pycarp demote: error: '5': give +N, -N or =N with N 0-1000000 (e.g. +100)",
        ),
        (
            ["demote", "+x"],
            "pycarp demote: error: '+x': give +N, -N or =N with N 0-1000000 (e.g. +100)",
        ),
        (
            ["demote", "+2000000"],
            "pycarp demote: error: demote: 'amount' must be an integer 0-1000000, not 2000000",
        ),
        (
            ["demote", "+1", "eth0"],
            "pycarp demote: error: group 'eth0' is not VHID@IF, VHID 1-255 "
            "and IF an interface name (e.g. 1@eth0)",
        ),
        (
            ["state", "300@eth0", "master"],
            "pycarp state: error: group '300@eth0' is not VHID@IF, "
            "VHID 1-255 and IF an interface name (e.g. 1@eth0)",
        ),
        (["maintenance"], "pycarp maintenance: error: the following arguments are required: mode"),
    ],
)
def test_usage_errors_exit_2_in_one_line(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = run(capsys, *argv, "--control", str(tmp_path / "never-used.sock"))
    assert (code, out, err) == (2, "", message + "\n")


@pytest.mark.parametrize(
    ("argv", "prefix"),
    [
        (["state", "1@eth0", "up"], "pycarp state: error: argument state: invalid choice: 'up'"),
        (["maintenance", "yes"], "pycarp maintenance: error: argument mode: invalid choice: 'yes'"),
    ],
)
def test_a_wrong_choice_exits_2_in_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], prefix: str
) -> None:
    """argparse's own wording (its quoting of the choices varies between Python versions)."""
    code, out, err = run(capsys, *argv)
    assert (code, out) == (2, "")
    assert err.startswith(prefix)
    assert err.count("\n") == 1


def test_no_daemon_exits_1(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "c.sock"
    code, _out, err = run(capsys, "maintenance", "on", "--control", str(path))
    assert code == 1
    assert err == f"pycarp: error: no pycarp daemon at {path} (is it running? --control)\n"


@pytest.mark.parametrize("command", ["status", "maintenance", "demote", "state"])
def test_help(capsys: pytest.CaptureFixture[str], command: str) -> None:
    code, out, _err = run(capsys, command, "--help")
    assert code == 0
    assert out.startswith(f"usage: pycarp {command} ")
    assert "exit status: 0" in out


def test_demote_help_explains_the_semantics(capsys: pytest.CaptureFixture[str]) -> None:
    _code, out, _err = run(capsys, "demote", "--help")
    assert "net.inet.carp.demotion" in out
    assert "carpdemote" in out
    assert "clamped to 0-240" in out
    assert "may go negative" in out


def test_maintenance_help_says_it_persists(capsys: pytest.CaptureFixture[str]) -> None:
    _code, out, _err = run(capsys, "maintenance", "--help")
    assert "--state-dir" in out
    assert "a restart" in out


def test_default_socket_is_the_pycarp_instance(tmp_path: pathlib.Path) -> None:
    (tmp_path / "pycarp.sock").touch()
    (tmp_path / "other.sock").touch()
    assert controlling.socket_path(None, tmp_path) == tmp_path / "pycarp.sock"


def test_default_socket_is_the_only_one_running(tmp_path: pathlib.Path) -> None:
    (tmp_path / "groups.sock").touch()
    assert controlling.socket_path(None, tmp_path) == tmp_path / "groups.sock"


def test_several_sockets_must_be_chosen(tmp_path: pathlib.Path) -> None:
    (tmp_path / "a.sock").touch()
    (tmp_path / "b.sock").touch()
    with pytest.raises(controlling.UsageError) as error:
        controlling.socket_path(None, tmp_path)
    assert (
        str(error.value) == f"several daemons in {tmp_path} (a, b): choose one with --control NAME"
    )


def test_no_socket_at_all_names_the_default(tmp_path: pathlib.Path) -> None:
    assert controlling.socket_path(None, tmp_path / "missing") == tmp_path / "missing/pycarp.sock"


def test_control_name_and_path(tmp_path: pathlib.Path) -> None:
    assert controlling.socket_path("groups", tmp_path) == tmp_path / "groups.sock"
    assert controlling.socket_path("./x.sock", tmp_path) == pathlib.Path("x.sock")
    assert controlling.socket_path("/srv/c.sock", tmp_path) == pathlib.Path("/srv/c.sock")


def test_several_sockets_is_a_usage_error_on_the_command_line(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a.sock").touch()
    (tmp_path / "b.sock").touch()
    monkeypatch.setattr(controlling, "RUN_DIR", tmp_path)
    code, _out, err = run(capsys, "maintenance", "off")
    assert code == 2
    assert err == (
        f"pycarp maintenance: error: several daemons in {tmp_path} (a, b): "
        "choose one with --control NAME\n"
    )


def test_status_into_a_closed_pipe_ends_quietly(tmp_path: pathlib.Path) -> None:
    import subprocess
    import sys

    with serving(tmp_path / "c.sock", group=None) as s:
        done = subprocess.run(
            f"{sys.executable} -m pycarp status --watch 0.1 --control {s.path} | head -n 1",
            shell=True,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    assert done.stdout.startswith("pycarp pycarp (pid 4242")
    assert done.stderr == ""
