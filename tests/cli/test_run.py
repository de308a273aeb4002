"""``pycarp [ucarp options]``: bad input is one ``pycarp: error:`` line, exit 2, no traceback.

These tests run as whatever user runs the suite (root, here): a guard replaces the daemon and
the daemonizing fork so that no test can ever reach a real interface, even if validation let a
bad command line through.
"""

from __future__ import annotations

import argparse
import errno
import ipaddress
import logging
import os
import pathlib
import signal
import socket
from collections.abc import Iterator

import pytest

from pycarp.cli import logs as cli_logs
from pycarp.cli import main as cli_main
from pycarp.cli import run as cli_run
from pycarp.cli import stopping
from pycarp.config.build import PASS_ENV
from pycarp.config.flags import config_from_args
from pycarp.config.model import DaemonConfig
from pycarp.core.constants import IPInterface
from pycarp.platform import linux
from pycarp.runtime.hooks import CAP_NET_ADMIN, CAP_NET_RAW, Capabilities

SECRET = "cli-s3cret-pass"
GOOD = ["-i", "eth0", "-s", "198.51.100.1", "-v", "1", "-a", "198.51.100.100"]
UCARP_LONG = [
    "--interface",
    "--srcip",
    "--mcast",
    "--vhid",
    "--pass",
    "--passfile",
    "--preempt",
    "--neutral",
    "--addr",
    "--help",
    "--advbase",
    "--advskew",
    "--upscript",
    "--downscript",
    "--deadratio",
    "--debug",
    "--shutdown",
    "--daemonize",
    "--ignoreifstate",
    "--nomcast",
    "--facility",
    "--xparam",
]


@pytest.fixture(autouse=True)
def never_run_the_daemon(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    async def refuse(config: DaemonConfig, stop: object = None) -> int:
        raise AssertionError("a test reached the real daemon")

    def refuse_fork() -> None:
        raise AssertionError("a test reached the daemonizing fork")

    monkeypatch.setattr(cli_run, "_run", refuse)
    monkeypatch.setattr(cli_run, "_daemonize", refuse_fork)
    # The host as the start-up check sees it (never the real netlink of the test machine).
    monkeypatch.setattr(linux, "linux_address_manager", HostAddresses)
    monkeypatch.delenv(PASS_ENV, raising=False)
    logger = logging.getLogger("pycarp")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    # The daemon's main catches SIGINT/SIGTERM (and ignores them at exit): not in pytest's process.
    signums = (*stopping.STOP_SIGNALS, *stopping.OPERATOR_SIGNALS)
    handlers = {signum: signal.getsignal(signum) for signum in signums}
    yield
    logger.handlers[:], logger.level, logger.propagate = saved
    for signum, handler in handlers.items():
        signal.signal(signum, handler)


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("pycarp: error: "), err
    assert "Traceback" not in err
    assert SECRET not in err
    return lines[0]


BAD_CONFIG = [
    (["-p", SECRET, "--vhid", "0"], "--vhid: 0"),
    (["-p", SECRET, "--advskew", "255"], "--advskew: 255"),
    (["-p", SECRET, "-s", "bad"], "--srcip: bad"),
    (["--key-hex", "01" * 21], "--key-hex: <21 bytes>"),
    (["-p", SECRET, "-f", "nowhere"], "--facility: nowhere"),
    (["-p", SECRET, "--signature-mode", "sha9"], "--signature-mode: sha9"),
    (["-o", "/nonexistent/pass"], "--passfile: /nonexistent/pass"),
    ([], "--pass: missing"),
]


@pytest.mark.parametrize(("extra", "expected"), BAD_CONFIG, ids=[b[1] for b in BAD_CONFIG])
def test_bad_values_exit_2_with_one_line(
    capsys: pytest.CaptureFixture[str], extra: list[str], expected: str
) -> None:
    assert cli_main.main([*GOOD, *extra]) == 2
    assert one_error_line(capsys).startswith(f"pycarp: error: {expected}")


def test_bad_values_through_the_run_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main.main(["run", *GOOD, "-p", SECRET, "-b", "256"]) == 2
    assert one_error_line(capsys).startswith("pycarp: error: --advbase: 256")


def test_config_together_with_group_flags(
    capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path
) -> None:
    path = tmp_path / "c.toml"
    path.write_text("")
    assert cli_main.main([*GOOD, "-p", SECRET, "--config", str(path)]) == 2
    assert one_error_line(capsys).startswith("pycarp: error: --config: ")


def test_a_bad_config_file_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path
) -> None:
    path = tmp_path / "c.toml"
    path.write_text(f'[[group]]\ninterface = "eth0"\npassphrase = "{SECRET}"\nvhid = 300\n')
    assert cli_main.main(["--config", str(path)]) == 2
    line = one_error_line(capsys)
    assert line.startswith(f"pycarp: error: {path}: group[1].")


@pytest.mark.parametrize(
    "argv",
    [[*GOOD, "--no-such-option"], [*GOOD, "-v"], [*GOOD, "-p", SECRET, "stray-word"]],
    ids=["unknown option", "missing value", "stray argument"],
)
def test_usage_errors_are_one_line_too(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli_main.main(argv)
    assert exited.value.code == 2
    one_error_line(capsys)


def holding(monkeypatch: pytest.MonkeyPatch, *capabilities: int) -> None:
    """This process as a user holding just ``capabilities`` (effective, permitted, ambient)."""
    mask = sum(1 << c for c in capabilities)
    own = Capabilities(
        inheritable=mask, permitted=mask, effective=mask, bounding=mask, ambient=mask
    )
    monkeypatch.setattr(Capabilities, "of_this_process", classmethod(lambda cls: own))
    monkeypatch.setattr(os, "geteuid", lambda: 1000)


@pytest.mark.parametrize(
    ("held", "missing"),
    [
        (
            (),
            "capabilities CAP_NET_RAW (raw sockets for adverts and announcements), "
            "CAP_NET_ADMIN (adding and removing addresses)",
        ),
        ((CAP_NET_RAW,), "capability CAP_NET_ADMIN (adding and removing addresses)"),
        ((CAP_NET_ADMIN,), "capability CAP_NET_RAW (raw sockets for adverts and announcements)"),
    ],
    ids=["none", "net_raw only", "net_admin only"],
)
def test_a_valid_command_line_without_the_capabilities_is_refused_naming_them(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    held: tuple[int, ...],
    missing: str,
) -> None:
    holding(monkeypatch, *held)
    monkeypatch.setenv(PASS_ENV, SECRET)
    assert cli_main.main(GOOD) == 2
    assert one_error_line(capsys) == (
        f"pycarp: error: missing {missing}: run as root, or as a user holding CAP_NET_RAW and "
        "CAP_NET_ADMIN (systemd: AmbientCapabilities=, see contrib/systemd)"
    )


def test_a_user_holding_net_raw_and_net_admin_reaches_the_daemon(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started: list[DaemonConfig] = []

    async def run(config: DaemonConfig, stop: object = None) -> int:
        started.append(config)
        return 0

    holding(monkeypatch, CAP_NET_RAW, CAP_NET_ADMIN)
    monkeypatch.setattr(cli_run, "_run", run)
    assert cli_main.main([*GOOD, "-p", SECRET]) == 0
    assert len(started) == 1


def test_pass_on_the_command_line_warns_without_showing_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    holding(monkeypatch)
    assert cli_main.main([*GOOD, "-p", SECRET]) == 2
    err = capsys.readouterr().err
    assert "prefer --passfile" in err
    assert SECRET not in err
    assert err.splitlines()[-1].startswith("pycarp: error: missing capabilities CAP_NET_RAW")


def test_run_help_mentions_every_ucarp_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli_main.main(["run", "--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    for option in UCARP_LONG:
        assert option in text, option
    assert PASS_ENV in text
    for option in ("script", "interval", "timeout", "fall", "rise", "weight"):
        assert f"--track-{option}" in text, option
    assert "[[track]]" in text


def test_help_without_a_subcommand_points_to_the_options(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli_main.main(["--help"]) == 0
    assert "pycarp run --help" in capsys.readouterr().out


# -- logging -------------------------------------------------------------------------------


@pytest.fixture
def no_syslog(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point the daemon at a syslog socket that does not exist (whatever this machine has)."""
    path = str(tmp_path / "no-syslog-here")
    monkeypatch.setattr(cli_logs, "SYSLOG_SOCKET", path)
    monkeypatch.setenv(PASS_ENV, SECRET)
    return path


def test_facility_without_syslog_logs_to_stderr_after_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, no_syslog: str
) -> None:
    async def daemon(config: DaemonConfig, stop: object = None) -> int:
        for number in range(3):
            logging.getLogger("pycarp").info("record %d", number)
        return 0

    monkeypatch.setattr(cli_run, "_run", daemon)
    assert cli_main.main([*GOOD, "--facility", "local3"]) == 0
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert lines[0] == (
        f"pycarp: syslog unavailable ({no_syslog}: No such file or directory): logging to stderr"
    )
    assert [line.split("INFO", 1)[1].strip() for line in lines[1:]] == [
        "record 0",
        "record 1",
        "record 2",
    ]
    assert "Traceback" not in err
    assert out == ""


def test_daemonize_without_syslog_refuses_to_start(
    capsys: pytest.CaptureFixture[str], no_syslog: str
) -> None:
    # -B detaches and closes stderr: without syslog there would be no log at all.
    assert cli_main.main([*GOOD, "-B"]) == 2
    assert one_error_line(capsys) == (
        f"pycarp: error: syslog unavailable ({no_syslog}: No such file or directory): "
        "-B would leave no log destination"
    )


def test_syslog_going_away_is_one_line_then_a_count_not_a_traceback_per_record(
    capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path
) -> None:
    path = str(tmp_path / "log")
    log = logging.getLogger("pycarp")

    def syslogd() -> socket.socket:
        server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        server.bind(path)
        server.settimeout(2)
        return server

    server = syslogd()
    cli_logs.configure_logging(debug=False, facility="daemon", syslog_socket=path)
    [handler] = log.handlers
    assert isinstance(handler, cli_logs.QuietSyslogHandler)
    log.info("first")
    assert server.recv(1024) == f"<30>pycarp[{os.getpid()}]: first\0".encode()  # daemon.info

    server.close()
    os.unlink(path)  # syslogd stopped
    for number in range(5):
        log.warning("lost %d", number)
    _out, err = capsys.readouterr()
    assert err.splitlines() == [
        "pycarp: syslog write failed ([Errno 2] No such file or directory): dropping log records"
    ]
    assert handler.dropped == 5

    server = syslogd()  # and started again
    log.info("back")
    assert server.recv(1024).endswith(b": back\0")
    assert server.recv(1024).endswith(b": syslog was unavailable: 5 log record(s) lost\0")
    server.close()
    handler.close()
    assert capsys.readouterr().err == ""


# -- start-up ------------------------------------------------------------------------------


def test_hooks_that_would_keep_root_privileges_refuse_to_start(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path
) -> None:
    from pycarp.runtime import hooks

    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(hooks, "_is_root", lambda: True)
    monkeypatch.setattr(hooks, "_setpriv", lambda: None)  # util-linux missing
    script = tmp_path / "up"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    assert cli_main.main([*GOOD, "-p", SECRET, "--upscript", str(script)]) == 2
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == (
        "pycarp: error: setpriv (util-linux) not found: "
        "needed to run hooks without the daemon's privileges"
    )


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_signal_during_start_up_exits_0_before_anything_runs(
    monkeypatch: pytest.MonkeyPatch, signum: int
) -> None:
    def slow_start(args: argparse.Namespace) -> DaemonConfig:
        os.kill(os.getpid(), signum)  # arrives while pycarp reads its configuration
        return config_from_args(args)

    monkeypatch.setattr(cli_run, "config_from_args", slow_start)
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert cli_main.main([*GOOD, "-p", SECRET]) == 0  # the fixture's guard: no daemon ran
    # Afterwards (the daemon done) they are ignored until the process exits.
    assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_IGN


class HostAddresses:
    """The host as the start-up check sees it: eth0 with 198.51.100.1, no other interface."""

    closed = False

    def addresses(self, interface: str) -> set[IPInterface]:
        if interface != "eth0":
            raise OSError(errno.ENODEV, f"no interface {interface}")
        return {ipaddress.ip_interface("198.51.100.1/24")}

    def close(self) -> None:
        self.closed = True


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ["-i", "eth9"],
            "pycarp: error: --interface: eth9 is not allowed (an existing network interface)",
        ),
        (
            ["-s", "198.51.100.9"],
            "pycarp: error: --srcip: 198.51.100.9 is not allowed "
            "(an address of eth0, whose IPv4 addresses are 198.51.100.1)",
        ),
        (
            ["--track-script", "/nonexistent/check-web -x"],
            "pycarp: error: --track-script: /nonexistent/check-web is not allowed "
            "(an existing executable program)",
        ),
        (
            ["--track-script", "/dev/null"],
            "pycarp: error: --track-script: /dev/null is not allowed "
            "(an existing executable program)",
        ),
        (
            ["--track-script", "no-such-check-in-path"],
            "pycarp: error: --track-script: no-such-check-in-path is not allowed "
            "(an existing executable program)",
        ),
    ],
    ids=[
        "missing interface",
        "source not on the interface",
        "missing track script",
        "track script not executable",
        "track script not in PATH",
    ],
)
def test_a_configuration_the_host_cannot_run_exits_2_before_the_daemon(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    change: list[str],
    expected: str,
) -> None:
    host = HostAddresses()
    monkeypatch.setattr(linux, "linux_address_manager", lambda: host)
    monkeypatch.setenv(PASS_ENV, SECRET)
    assert cli_main.main([*GOOD, "-B", *change]) == 2  # before -B forks
    assert one_error_line(capsys) == expected
    assert host.closed


def test_a_configuration_the_host_can_run_reaches_the_daemon(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started: list[DaemonConfig] = []

    async def run(config: DaemonConfig, stop: object = None) -> int:
        started.append(config)
        return 0

    monkeypatch.setattr(linux, "linux_address_manager", HostAddresses)
    monkeypatch.setattr(cli_run, "_run", run)
    assert cli_main.main([*GOOD, "-p", SECRET]) == 0
    assert [g.interface for g in started[0].groups] == ["eth0"]
    assert cli_main.main([*GOOD, "-p", SECRET, "--track-script", "true", "--track-rise", "3"]) == 0
    assert [(t.script, t.rise) for t in started[1].tracks] == [(("true",), 3)]


def test_no_netlink_is_one_line_exit_1(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_netlink() -> None:
        raise OSError(errno.EPROTONOSUPPORT, "Protocol not supported")

    monkeypatch.setattr(linux, "linux_address_manager", no_netlink)
    monkeypatch.setenv(PASS_ENV, SECRET)
    assert cli_main.main(GOOD) == 1
    assert one_error_line(capsys).startswith("pycarp: error: cannot open netlink: ")
