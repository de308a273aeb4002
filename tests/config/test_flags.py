"""ucarp 1.5.2's command line, flag for flag, and pycarp's extensions, into a DaemonConfig."""

from __future__ import annotations

import ipaddress
import pathlib
import re
import shlex
import shutil
import subprocess
from collections.abc import Callable

import pytest

from pycarp.config.build import PASS_ENV
from pycarp.config.flags import build_parser, config_from_args
from pycarp.config.model import AddressMode, ConfigError, DaemonConfig, GroupConfig

SOURCE = "198.51.100.1"
VIP = "198.51.100.100"
SECRET = "flag-s3cret-value"

# Every option of `ucarp --help` (1.5.2), as (long, short).
UCARP_OPTIONS = [
    ("--interface", "-i"),
    ("--srcip", "-s"),
    ("--mcast", "-m"),
    ("--vhid", "-v"),
    ("--pass", "-p"),
    ("--passfile", "-o"),
    ("--preempt", "-P"),
    ("--neutral", "-n"),
    ("--addr", "-a"),
    ("--help", "-h"),
    ("--advbase", "-b"),
    ("--advskew", "-k"),
    ("--upscript", "-u"),
    ("--downscript", "-d"),
    ("--deadratio", "-r"),
    ("--debug", "-D"),
    ("--shutdown", "-z"),
    ("--daemonize", "-B"),
    ("--ignoreifstate", "-S"),
    ("--nomcast", "-M"),
    ("--facility", "-f"),
    ("--xparam", "-x"),
]


@pytest.fixture(autouse=True)
def no_pass_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PASS_ENV, raising=False)


def parse(argv: list[str]) -> DaemonConfig:
    return config_from_args(build_parser().parse_args(argv))


def executable(path: pathlib.Path) -> str:
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)
    return str(path)


def the_group(config: DaemonConfig) -> GroupConfig:
    (group,) = config.groups
    return group


def test_our_option_list_is_ucarps_own_help() -> None:
    if shutil.which("ucarp") is None:
        pytest.skip("ucarp is not installed here")
    out = subprocess.run(["ucarp", "--help"], capture_output=True, text=True, check=False)
    listed = re.findall(r"^(--[a-z]+)(?:=<[^>]+>)? \((-[a-zA-Z])", out.stdout, re.MULTILINE)
    assert sorted(listed) == sorted(UCARP_OPTIONS)


def test_every_ucarp_option_has_both_spellings_for_the_same_setting() -> None:
    parser = build_parser()
    by_string = {s: a for a in parser._actions for s in a.option_strings}
    for long, short in UCARP_OPTIONS:
        assert long in by_string, long
        assert by_string[long] is by_string[short], (long, short)


# (long, short, value or None for a switch, check on the resulting config)
Check = Callable[[DaemonConfig], bool]
FLAG_CASES: list[tuple[str, str, str | None, Check]] = [
    ("--interface", "-i", "eth7", lambda c: the_group(c).interface == "eth7"),
    (
        "--srcip",
        "-s",
        "198.51.100.7",
        lambda c: the_group(c).settings.source == ipaddress.ip_address("198.51.100.7"),
    ),
    (
        "--mcast",
        "-m",
        "224.0.0.19",
        lambda c: (
            the_group(c).destination == ipaddress.ip_address("224.0.0.19")
            and the_group(c).settings.multicast
        ),
    ),
    ("--vhid", "-v", "42", lambda c: the_group(c).settings.vhid == 42),
    ("--pass", "-p", SECRET, lambda c: the_group(c).settings.passphrase == SECRET.encode()),
    ("--preempt", "-P", None, lambda c: the_group(c).settings.preempt),
    ("--neutral", "-n", None, lambda c: the_group(c).settings.neutral),
    (
        "--addr",
        "-a",
        "198.51.100.50",
        lambda c: the_group(c).prefixes == (ipaddress.ip_interface("198.51.100.50/32"),),
    ),
    ("--advbase", "-b", "3", lambda c: the_group(c).settings.advbase == 3),
    ("--advskew", "-k", "254", lambda c: the_group(c).settings.advskew == 254),
    ("--deadratio", "-r", "5", lambda c: the_group(c).settings.dead_ratio == 5),
    ("--debug", "-D", None, lambda c: c.debug),
    ("--daemonize", "-B", None, lambda c: c.daemonize),
    ("--ignoreifstate", "-S", None, lambda c: the_group(c).ignore_ifstate),
    (
        "--nomcast",
        "-M",
        None,
        lambda c: (
            the_group(c).destination == ipaddress.ip_address("255.255.255.255")
            and not the_group(c).settings.multicast
        ),
    ),
    ("--facility", "-f", "local3", lambda c: c.facility == "local3"),
    ("--xparam", "-x", "extra", lambda c: the_group(c).xparam == "extra"),
]
BASE = {"-i": "eth0", "-s": SOURCE, "-v": "1", "-a": VIP}
BASELINE = ["-i", "eth9", "-s", "198.51.100.9", "-v", "9", "-a", "198.51.100.99", "-p", "base"]


def with_base(short: str, flag_argv: list[str]) -> list[str]:
    argv = [x for k, v in BASE.items() if k != short for x in (k, v)]
    return argv + flag_argv


@pytest.mark.parametrize(
    ("long", "short", "value", "check"), FLAG_CASES, ids=[c[0] for c in FLAG_CASES]
)
def test_each_ucarp_flag_long_and_short_sets_its_field(
    monkeypatch: pytest.MonkeyPatch, long: str, short: str, value: str | None, check: Check
) -> None:
    if short != "-p":
        monkeypatch.setenv(PASS_ENV, "from-env")
    short_argv = [short] if value is None else [short, value]
    long_argv = [long] if value is None else [f"{long}={value}"]
    by_short = parse(with_base(short, short_argv))
    by_long = parse(with_base(short, long_argv))
    assert by_short == by_long
    assert check(by_short)
    assert not check(parse(BASELINE))  # the check tells the flag's effect from the defaults


@pytest.mark.parametrize("spelling", ["-z", "--shutdown"])
def test_shutdown_is_accepted_and_always_on(monkeypatch: pytest.MonkeyPatch, spelling: str) -> None:
    """ucarp -z runs the down script when a master exits; pycarp always does (see --help)."""
    monkeypatch.setenv(PASS_ENV, "from-env")
    argv = ["-i", "eth0", "-s", SOURCE, "-v", "1", "-a", VIP]
    assert parse([*argv, spelling]) == parse(argv)


@pytest.mark.parametrize("spelling", ["-o", "--passfile"])
def test_passfile_reads_the_first_line(tmp_path: pathlib.Path, spelling: str) -> None:
    secret_file = tmp_path / "pass"
    secret_file.write_text(f"{SECRET}\nsecond line ignored\n")
    argv = with_base("", [spelling, str(secret_file)])
    assert the_group(parse(argv)).settings.passphrase == SECRET.encode()


@pytest.mark.parametrize(("long", "short"), [("--upscript", "-u"), ("--downscript", "-d")])
def test_script_flags(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, long: str, short: str
) -> None:
    monkeypatch.setenv(PASS_ENV, "from-env")
    script = executable(tmp_path / "hook.sh")
    by_short = the_group(parse(with_base("", [short, script])))
    by_long = the_group(parse(with_base("", [f"{long}={script}"])))
    assert by_short == by_long
    attribute = long.removeprefix("--")
    assert getattr(by_short, attribute) == script
    assert not by_short.native_addresses  # a script given: ucarp's scripts own the address


def test_help_lists_every_ucarp_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    for long, short in UCARP_OPTIONS:
        assert re.search(rf"{short}\b[^,\n]*, {long}\b", text), (long, short)


def test_an_unchanged_ucarp_command_line_runs_in_scripts_mode(tmp_path: pathlib.Path) -> None:
    up = executable(tmp_path / "up.sh")
    down = executable(tmp_path / "down.sh")
    argv = shlex.split("-i eth0 -s 198.51.100.1 -v 1 -p secret -a 198.51.100.100")
    argv += [f"--upscript={up}", f"--downscript={down}"]
    config = parse(argv)
    group = the_group(config)
    assert group.address_mode is AddressMode.AUTO
    assert not group.native_addresses
    assert (group.upscript, group.downscript) == (up, down)
    assert group.interface == "eth0"
    assert group.name == "1@eth0"
    settings = group.settings
    assert settings.source == ipaddress.ip_address("198.51.100.1")
    assert settings.passphrase == b"secret"
    assert settings.addresses == (ipaddress.ip_address(VIP),)
    assert group.prefixes == (ipaddress.ip_interface(f"{VIP}/32"),)
    assert (settings.advbase, settings.advskew, settings.dead_ratio) == (1, 0, 3)
    assert (settings.preempt, settings.neutral, settings.multicast) == (False, False, True)
    assert group.destination is None
    assert (config.debug, config.daemonize, config.facility) == (False, False, None)


def test_address_mode_native_keeps_scripts_and_addresses(tmp_path: pathlib.Path) -> None:
    up = executable(tmp_path / "up.sh")
    argv = [*with_base("", ["-p", "x", "-u", up]), "--address-mode", "native"]
    group = the_group(parse(argv))
    assert group.native_addresses
    assert group.upscript == up
    assert the_group(parse(with_base("", ["-p", "x"]))).native_addresses  # no scripts: native


def test_addr_repeats_with_prefix_lengths_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASS_ENV, "from-env")
    argv = ["-i", "eth0", "-s", SOURCE, "-v", "3"]
    argv += ["-a", "198.51.100.100/24", "--addr=198.51.100.101", "-a", "2001:db8::100/64"]
    group = the_group(parse(argv))
    assert group.prefixes == (
        ipaddress.ip_interface("198.51.100.100/24"),
        ipaddress.ip_interface("198.51.100.101/32"),
        ipaddress.ip_interface("2001:db8::100/64"),
    )
    assert group.settings.addresses == tuple(p.ip for p in group.prefixes)


def test_pycarp_pass_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASS_ENV, SECRET)
    assert the_group(parse(with_base("", []))).settings.passphrase == SECRET.encode()


def test_extensions_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASS_ENV, "from-env")
    argv = with_base("", ["--signature-mode", "ucarp", "--notify", "logger -t 'carp event'"])
    argv += ["--peer", "198.51.100.2", "--script-timeout", "2.5"]
    group = the_group(parse(argv))
    assert group.settings.signature_mode.value == "ucarp"
    assert group.notify == ("logger", "-t", "carp event")
    assert group.destination == ipaddress.ip_address("198.51.100.2")
    assert not group.settings.multicast  # unicast: no TTL check
    assert group.script_timeout == 2.5


def test_sub_second_advbase_and_demote_byte(monkeypatch: pytest.MonkeyPatch) -> None:
    # OpenBSD's advbase 0 (every advskew/256 s) and its demote byte, from the command line.
    monkeypatch.setenv(PASS_ENV, "from-env")
    argv = with_base("", ["-b", "0", "-k", "25", "--demote-on-wire", "byte"])
    settings = the_group(parse(argv)).settings
    assert (settings.advbase, settings.advskew) == (0, 25)
    assert settings.demote_on_wire.value == "byte"
    assert the_group(parse(with_base("", []))).settings.demote_on_wire.value == "advskew"


# -- invalid values: one line, naming the option, never the secret -------------------------


def not_executable(tmp_path: pathlib.Path) -> str:
    path = tmp_path / "plain.sh"
    path.write_text("#!/bin/sh\n")
    path.chmod(0o644)
    return str(path)


def empty_file(tmp_path: pathlib.Path) -> str:
    path = tmp_path / "empty"
    path.write_text("\n")
    return str(path)


def long_pass_file(tmp_path: pathlib.Path) -> str:
    path = tmp_path / "long"
    path.write_text(SECRET + "x" * 4096 + "\n")  # more than PASSFILE_LIMIT
    return str(path)


def unreadable(tmp_path: pathlib.Path) -> str:
    return str(tmp_path / "does-not-exist")


def toml_file(tmp_path: pathlib.Path) -> str:
    path = tmp_path / "c.toml"
    path.write_text("")
    return str(path)


Replace = Callable[[pathlib.Path], list[str]]
_P = ["-p", SECRET]
INVALID: list[tuple[str, Replace, str]] = [
    ("vhid 0", lambda t: [*_P, "--vhid", "0"], "--vhid"),
    ("vhid 256", lambda t: [*_P, "--vhid", "256"], "--vhid"),
    ("vhid word", lambda t: [*_P, "-v", "one"], "--vhid"),
    ("advskew 255", lambda t: [*_P, "--advskew", "255"], "--advskew"),
    ("advskew negative", lambda t: [*_P, "-k", "-1"], "--advskew"),
    ("advbase negative", lambda t: [*_P, "--advbase", "-1"], "--advbase"),
    ("advbase 256", lambda t: [*_P, "-b", "256"], "--advbase"),
    ("deadratio 0", lambda t: [*_P, "-r", "0"], "--deadratio"),
    ("bad srcip", lambda t: [*_P, "-s", "198.51.100.300"], "--srcip"),
    ("bad addr", lambda t: [*_P, "-a", "not-an-ip"], "--addr"),
    ("bad prefix", lambda t: [*_P, "-a", "198.51.100.100/33"], "--addr"),
    ("addr is srcip", lambda t: [*_P, "-a", SOURCE], "--addr"),
    ("multicast addr", lambda t: [*_P, "-a", "224.0.0.18"], "--addr"),
    ("addr twice", lambda t: [*_P, "-a", VIP], "--addr"),
    ("bad mcast", lambda t: [*_P, "-m", "198.51.100.5"], "--mcast"),
    ("bad peer", lambda t: [*_P, "--peer", "nowhere"], "--peer"),
    ("peer and nomcast", lambda t: [*_P, "--peer", "198.51.100.2", "-M"], "--nomcast"),
    ("no passphrase", lambda t: [], "--pass"),
    ("pass and key-hex", lambda t: [*_P, "--key-hex", "0102"], "--key-hex"),
    ("key-hex not hex", lambda t: ["--key-hex", "0x01zz"], "--key-hex"),
    ("key-hex 21 bytes", lambda t: ["--key-hex", "ab" * 21], "--key-hex"),
    ("empty passphrase", lambda t: ["-p", ""], "--pass"),
    ("passfile unreadable", lambda t: ["-o", unreadable(t)], "--passfile"),
    ("passfile empty", lambda t: ["-o", empty_file(t)], "--passfile"),
    ("passfile too long", lambda t: ["-o", long_pass_file(t)], "--passfile"),
    ("pass and passfile", lambda t: [*_P, "-o", empty_file(t)], "--passfile"),
    ("upscript not executable", lambda t: [*_P, "-u", not_executable(t)], "--upscript"),
    ("upscript missing", lambda t: [*_P, "-u", unreadable(t)], "--upscript"),
    ("downscript is a directory", lambda t: [*_P, "-d", str(t)], "--downscript"),
    ("config with group flags", lambda t: [*_P, "--config", toml_file(t)], "--config"),
    ("bad facility", lambda t: [*_P, "-f", "nosuchfacility"], "--facility"),
    ("bad signature mode", lambda t: [*_P, "--signature-mode", "md5"], "--signature-mode"),
    ("bad address mode", lambda t: [*_P, "--address-mode", "magic"], "--address-mode"),
    ("bad demote-on-wire", lambda t: [*_P, "--demote-on-wire", "pad"], "--demote-on-wire"),
    ("script timeout 0", lambda t: [*_P, "--script-timeout", "0"], "--script-timeout"),
    ("script timeout word", lambda t: [*_P, "--script-timeout", "soon"], "--script-timeout"),
    ("bad notify", lambda t: [*_P, "--notify", "unbalanced 'quote"], "--notify"),
    ("interface with slash", lambda t: [*_P, "-i", "eth0/1"], "--interface"),
    ("interface too long", lambda t: [*_P, "-i", "a" * 16], "--interface"),
]


@pytest.mark.parametrize(("case", "extra", "option"), INVALID, ids=[c[0] for c in INVALID])
def test_invalid_values_name_the_option_in_one_line(
    tmp_path: pathlib.Path, case: str, extra: Replace, option: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        parse([*with_base("", []), *extra(tmp_path)])
    message = str(raised.value)
    assert message.startswith(f"{option}: "), message
    assert "\n" not in message
    assert SECRET not in message
    assert raised.value.field == option


def test_missing_srcip_and_missing_addresses() -> None:
    with pytest.raises(ConfigError, match=r"^--srcip: missing"):
        parse(["-i", "eth0", "-v", "1", "-p", "x", "-a", VIP])
    with pytest.raises(ConfigError, match=r"^--addr: none"):
        parse(["-i", "eth0", "-s", SOURCE, "-v", "1", "-p", "x"])
    with pytest.raises(ConfigError, match=r"^--vhid: missing"):
        parse(["-i", "eth0", "-s", SOURCE, "-p", "x", "-a", VIP])
    with pytest.raises(ConfigError, match=r"^--interface: missing"):
        parse(["-s", SOURCE, "-v", "1", "-p", "x", "-a", VIP])


def test_config_file_with_daemon_level_flags_is_fine(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        f'[[group]]\ninterface = "eth0"\nsource = "{SOURCE}"\nvhid = 1\n'
        f'passphrase = "x"\naddresses = ["{VIP}/24"]\n'
    )
    config = parse(["--config", str(path), "-D", "-f", "local1"])
    assert (config.debug, config.facility, config.config_path) == (True, "local1", path)
    with pytest.raises(ConfigError, match=r"^--config: .*\(advskew\)"):
        parse(["--config", str(path), "-k", "10"])


def test_the_secret_is_never_in_a_repr() -> None:
    config = parse(with_base("", ["-p", SECRET]))
    assert SECRET not in repr(config)
    assert SECRET not in str(config)
    from pycarp.config.build import RawGroup

    assert SECRET not in repr(RawGroup(passphrase=SECRET))
