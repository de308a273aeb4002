"""``pycarp [ucarp options]``: bad input is one ``pycarp: error:`` line, exit 2, no traceback.

These tests run as whatever user runs the suite (root, here): a guard replaces the daemon and
the daemonizing fork so that no test can ever reach a real interface, even if validation let a
bad command line through.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import os
import pathlib
from collections.abc import Iterator

import pytest

from pycarp.cli import main as cli_main
from pycarp.cli import run as cli_run
from pycarp.config.build import PASS_ENV
from pycarp.config.model import DaemonConfig
from pycarp.platform import linux
from pycarp.platform.ports import IPInterface

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
    async def refuse(config: DaemonConfig) -> int:
        raise AssertionError("a test reached the real daemon")

    def refuse_fork() -> None:
        raise AssertionError("a test reached the daemonizing fork")

    def refuse_netlink() -> None:
        raise AssertionError("a test reached the host's netlink")

    monkeypatch.setattr(cli_run, "_run", refuse)
    monkeypatch.setattr(cli_run, "_daemonize", refuse_fork)
    monkeypatch.setattr(linux, "linux_address_manager", refuse_netlink)
    monkeypatch.delenv(PASS_ENV, raising=False)
    logger = logging.getLogger("pycarp")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    yield
    logger.handlers[:], logger.level, logger.propagate = saved


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
    (["-p", SECRET + "-longer-than-twenty"], "--pass: <"),
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
    assert cli_main.main(["run", *GOOD, "-p", SECRET, "-b", "0"]) == 2
    assert one_error_line(capsys).startswith("pycarp: error: --advbase: 0")


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


def test_a_valid_command_line_without_root_is_refused(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setenv(PASS_ENV, SECRET)
    assert cli_main.main(GOOD) == 2
    assert one_error_line(capsys) == "pycarp: error: needs root (raw sockets and address changes)"


def test_pass_on_the_command_line_warns_without_showing_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert cli_main.main([*GOOD, "-p", SECRET]) == 2
    err = capsys.readouterr().err
    assert "prefer --passfile" in err
    assert SECRET not in err
    assert err.splitlines()[-1].startswith("pycarp: error: needs root")


def test_run_help_mentions_every_ucarp_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli_main.main(["run", "--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    for option in UCARP_LONG:
        assert option in text, option
    assert PASS_ENV in text


def test_help_without_a_subcommand_points_to_the_options(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli_main.main(["--help"]) == 0
    assert "pycarp run --help" in capsys.readouterr().out


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
    ],
    ids=["missing interface", "source not on the interface"],
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

    async def run(config: DaemonConfig) -> int:
        started.append(config)
        return 0

    monkeypatch.setattr(linux, "linux_address_manager", HostAddresses)
    monkeypatch.setattr(cli_run, "_run", run)
    assert cli_main.main([*GOOD, "-p", SECRET]) == 0
    assert [g.interface for g in started[0].groups] == ["eth0"]


def test_no_netlink_is_one_line_exit_1(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_netlink() -> None:
        raise OSError(errno.EPROTONOSUPPORT, "Protocol not supported")

    monkeypatch.setattr(linux, "linux_address_manager", no_netlink)
    monkeypatch.setenv(PASS_ENV, SECRET)
    assert cli_main.main(GOOD) == 1
    assert one_error_line(capsys).startswith("pycarp: error: cannot open netlink: ")
