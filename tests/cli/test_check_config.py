"""``pycarp --check-config``: a summary and exit 0, or one error line and exit 2; never a daemon.

The host is a fake (eth0 with 198.51.100.1), as in test_run.py; one test runs the check as a
separate process as user nobody against the real host, to show it needs no privilege at all.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import pathlib
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator

import pytest

from pycarp.cli import main as cli_main
from pycarp.cli import run as cli_run
from pycarp.cli import stopping
from pycarp.config.build import PASS_ENV
from pycarp.config.model import DaemonConfig
from pycarp.core.constants import IPInterface
from pycarp.lab.daemons import as_user, why_user_cannot_run_pycarp
from pycarp.platform import linux

SECRET = "check-s3cret"

VALID = f"""
[daemon]
control = "/run/pycarp/web.sock"
control_group = "ops"
events = "-"
metrics = "[2001:db8::1]:9100"

[[group]]
interface = "eth0"
source = "198.51.100.1"
vhid = 1
passphrase = "{SECRET}"
addresses = ["198.51.100.100/24", "2001:db8::100/64"]

[[group]]
interface = "eth0"
source = "198.51.100.1"
vhid = 2
passphrase = "{SECRET}"
addresses = ["198.51.100.101/24"]
advbase = 2
advskew = 100
upscript = "/bin/true"
"""


class HostAddresses:
    """eth0 with 198.51.100.1, no other interface."""

    def addresses(self, interface: str) -> set[IPInterface]:
        if interface != "eth0":
            raise OSError(errno.ENODEV, f"no interface {interface}")
        return {ipaddress.ip_interface("198.51.100.1/24")}

    def close(self) -> None:
        pass


@pytest.fixture(autouse=True)
def never_run_the_daemon(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    async def refuse(config: DaemonConfig, stop: object = None) -> int:
        raise AssertionError("--check-config reached the daemon")

    monkeypatch.setattr(cli_run, "_run", refuse)
    monkeypatch.setattr(linux, "linux_address_manager", HostAddresses)
    monkeypatch.delenv(PASS_ENV, raising=False)
    # pycarp's main catches SIGINT/SIGTERM (and ignores them at exit): not in pytest's process.
    signums = (*stopping.STOP_SIGNALS, *stopping.OPERATOR_SIGNALS)
    handlers = {signum: signal.getsignal(signum) for signum in signums}
    yield
    for signum, handler in handlers.items():
        signal.signal(signum, handler)


def write(tmp_path: pathlib.Path, text: str, name: str = "web.toml") -> pathlib.Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_valid_file_prints_a_summary_and_exits_0(
    capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path
) -> None:
    path = write(tmp_path, VALID)
    assert cli_main.main(["--config", str(path), "--check-config"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert SECRET not in out
    lines = out.splitlines()
    assert lines[:7] == [
        f"configuration valid: 2 groups from {path}",
        "  1@eth0: 198.51.100.100/24, 2001:db8::100/64; advbase 1, advskew 0 (every 1.00 s); "
        "native addresses",
        "  2@eth0: 198.51.100.101/24; advbase 2, advskew 100 (every 2.39 s); "
        "scripts (up /bin/true)",
        "control socket: /run/pycarp/web.sock (also group ops)",
        "state dir: /var/lib/pycarp",
        "events: standard output",
        "metrics: http://[2001:db8::1]:9100/metrics",
    ]
    assert lines[7] == "host: every interface exists and every source is one of its addresses"
    assert lines[8].startswith("privileges: ")
    assert len(lines) == 9


def test_flags_are_checked_too_with_the_defaults_they_imply(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASS_ENV, SECRET)
    argv = ["-i", "eth0", "-s", "198.51.100.1", "-v", "7", "-a", "198.51.100.107", "-k", "50"]
    assert cli_main.main([*argv, "--control", "off", "--check-config"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[:6] == [
        "configuration valid: 1 group",
        "  7@eth0: 198.51.100.107/32; advbase 1, advskew 50 (every 1.20 s); native addresses",
        "control socket: off",
        "state dir: /var/lib/pycarp",
        "events: off",
        "metrics: off",
    ]


def test_a_vrrp3_group_says_it_has_no_authentication(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["-i", "eth0", "-s", "198.51.100.1", "-v", "7", "-a", "198.51.100.107", "--vrrp3"]
    argv += ["--priority", "150", "--interval", "0.05"]
    assert cli_main.main([*argv, "--control", "off", "--check-config"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == (
        "  7@eth0: 198.51.100.107/32; VRRPv3 (no authentication), priority 150, interval "
        "0.05 s, preempt, pseudo-header checksum; native addresses"
    )


def test_sub_second_and_the_demote_byte_are_spelled_out(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASS_ENV, SECRET)
    argv = ["-i", "eth0", "-s", "198.51.100.1", "-v", "7", "-a", "198.51.100.107", "-b", "0"]
    argv += ["-k", "100", "--demote-on-wire", "byte", "--control", "off", "--check-config"]
    assert cli_main.main(argv) == 0
    assert capsys.readouterr().out.splitlines()[1] == (
        "  7@eth0: 198.51.100.107/32; advbase 0, advskew 100 (every 0.391 s), sub-second as "
        "OpenBSD's advbase 0 (FreeBSD peers cannot go below 1); demotion in the demote "
        "byte (OpenBSD; FreeBSD and ucarp peers ignore it); native addresses"
    )


BAD = [
    ("vhid = 1", "vhid = 256", "group[1].vhid: 256 is not allowed (an integer from 1 to 255)"),
    (
        "advskew = 100",
        "advskew = 255",
        "group[2].advskew: 255 is not allowed (an integer from 0 to",
    ),
    ('"198.51.100.100/24", ', '"bogus", ', "group[1].addresses: bogus is not allowed"),
    ('events = "-"', 'event = "-"', "[daemon]: "),
    ('metrics = "[2001:db8::1]:9100"', 'metrics = "9100"', "[daemon].metrics: 9100 is not allowed"),
]


@pytest.mark.parametrize(("old", "new", "expected"), BAD, ids=[b[2] for b in BAD])
def test_an_invalid_value_is_one_line_naming_the_field_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path, old: str, new: str, expected: str
) -> None:
    assert old in VALID
    path = write(tmp_path, VALID.replace(old, new, 1))
    assert cli_main.main(["--config", str(path), "--check-config"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1, err
    assert err.startswith(f"pycarp: error: {path}: {expected}"), err
    assert "Traceback" not in err
    assert SECRET not in err


TRACKS = """
[[track]]
name = "web"
script = ["/bin/true", "--quiet"]
interval = 0.5
weight = 50
groups = ["2@eth0"]

[[track]]
name = "uplink"
interface = "eth0"
"""


def test_tracks_are_summarised_and_checked_against_the_host(
    capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path
) -> None:
    path = write(tmp_path, VALID + TRACKS)
    assert cli_main.main(["--config", str(path), "--check-config"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[3:5] == [
        "  track web: script /bin/true --quiet; every 0.5s, timeout 0.5s, fall 2, rise 2; "
        "weight 50 on 2@eth0",
        "  track uplink: interface eth0; every 1s, timeout 1s, fall 2, rise 2; "
        "fault on every group",
    ]
    assert lines[9] == (
        "host: every interface exists and every source is one of its addresses, "
        "every track's program and interface too"
    )


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ('"/bin/true"', '"/nonexistent/web-check"', "track[1].script: /nonexistent/web-check"),
        ('interface = "eth0"\n"""', 'interface = "eth7"\n"""', "track[2].interface: eth7"),
    ],
)
def test_a_track_this_host_cannot_run_is_an_error(
    capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path, old: str, new: str, expected: str
) -> None:
    text = VALID + TRACKS.replace(old.replace('\n"""', "\n"), new.replace('\n"""', "\n"))
    path = write(tmp_path, text)
    assert cli_main.main(["--config", str(path), "--check-config"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"pycarp: error: {path}: {expected} is not allowed (an existing ")
    assert err.count("\n") == 1


def test_a_configuration_this_host_cannot_run_is_an_error(
    capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path
) -> None:
    path = write(tmp_path, VALID.replace('interface = "eth0"', 'interface = "eth9"', 1))
    assert cli_main.main(["--config", str(path), "--check-config"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        f"pycarp: error: {path}: group[1].interface: eth9 is not allowed "
        "(an existing network interface)\n"
    )


def test_without_netlink_the_host_is_not_checked_but_the_file_is_valid(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path
) -> None:
    def no_netlink() -> None:
        raise OSError(errno.EPROTONOSUPPORT, "Protocol not supported")

    monkeypatch.setattr(linux, "linux_address_manager", no_netlink)
    path = write(tmp_path, VALID.replace('interface = "eth0"', 'interface = "eth9"', 1))
    assert cli_main.main(["--config", str(path), "--check-config"]) == 0
    out = capsys.readouterr().out
    assert "host: not checked (cannot read the host's addresses: Protocol not supported)" in out


def test_as_user_nobody_without_any_capability() -> None:
    """Really unprivileged, against the real host: the check reads, and refuses nothing but
    what is wrong (here the interface, which no host has)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to become user nobody")
    reason = why_user_cannot_run_pycarp()
    if reason is not None:
        pytest.skip(f"user nobody cannot run {sys.executable} with pycarp here: {reason}")
    with tempfile.TemporaryDirectory() as name:
        folder = pathlib.Path(name)
        folder.chmod(0o755)  # nobody reads the file
        path = write(folder, VALID.replace('interface = "eth0"', 'interface = "pcl-none0"'))
        path.chmod(0o644)
        check = ["--config", str(path), "--check-config"]
        done = subprocess.run(
            [*as_user(capabilities=()), sys.executable, "-m", "pycarp", *check],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            cwd="/",
        )
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        f"pycarp: error: {path}: group[1].interface: pcl-none0 is not allowed "
        "(an existing network interface)\n"
    )


def test_a_passphrase_longer_than_19_bytes_is_one_warning_line(
    capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path
) -> None:
    long = SECRET + "-longer-than-nineteen"
    path = write(tmp_path, VALID.replace(f'passphrase = "{SECRET}"', f'passphrase = "{long}"', 1))
    assert cli_main.main(["--config", str(path), "--check-config"]) == 0
    out = capsys.readouterr().out
    warnings = [line for line in out.splitlines() if line.startswith("warning:")]
    assert warnings == [
        f"warning: 1@eth0: passphrase longer than 19 bytes (up to {len(long)}): only its first 19 "
        "bytes count, as with FreeBSD/OpenBSD `ifconfig ... pass` (ucarp refuses it); "
        "for a raw key of up to 20 bytes give --key-hex / key_hex"
    ]
    assert SECRET not in out
