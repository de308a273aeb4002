"""VRRPv3 groups from flags and TOML: values, defaults, and one-line errors naming the field,
the value and the range."""

from __future__ import annotations

import pathlib

import pytest

from pycarp.config.flags import build_parser, config_from_args
from pycarp.config.model import ConfigError, DaemonConfig
from pycarp.config.toml import load_config
from pycarp.core.settings import Protocol
from pycarp.core.vrrpwire import ChecksumMode

BASE = ["-i", "eth0", "-s", "198.51.100.1", "-v", "5", "-a", "198.51.100.100/24"]
OPERATE = ["--control", "off", "--state-dir", "off"]


def parse(argv: list[str]) -> DaemonConfig:
    return config_from_args(build_parser().parse_args([*argv, *OPERATE]))


def flag_error(argv: list[str]) -> str:
    with pytest.raises(ConfigError) as raised:
        parse(argv)
    message = str(raised.value)
    assert "\n" not in message
    return message


def test_vrrp3_flags_and_their_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYCARP_PASS", "ignored in VRRPv3: it has no key")
    (group,) = parse([*BASE, "--vrrp3"]).groups
    settings = group.settings
    assert settings.protocol is Protocol.VRRP3
    assert (settings.priority, settings.interval_cs, settings.preempt) == (100, 100, True)
    assert (settings.preempt_delay, settings.vrrp_checksum) == (0.0, ChecksumMode.PSEUDO_HEADER)
    assert settings.passphrase == b""
    (group,) = parse(
        [
            *BASE,
            "--vrrp3",
            "--priority",
            "255",
            "--interval",
            "0.05",
            "--no-preempt",
            "--preempt-delay",
            "2.5",
            "--vrrp-checksum",
            "rfc9568",
        ]
    ).groups
    settings = group.settings
    assert (settings.priority, settings.interval_cs, settings.preempt) == (255, 5, False)
    assert (settings.preempt_delay, settings.vrrp_checksum) == (2.5, ChecksumMode.RFC9568)


def test_carp_keeps_preempt_off_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYCARP_PASS", "secret")
    (group,) = parse(BASE).groups
    assert group.settings.protocol is Protocol.CARP
    assert group.settings.preempt is False
    (group,) = parse([*BASE, "-P"]).groups
    assert group.settings.preempt is True


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--priority", "0"], "--priority: 0 is not allowed (an integer from 1 to 255)"),
        (["--priority", "256"], "--priority: 256 is not allowed (an integer from 1 to 255)"),
        (
            ["--interval", "0.015"],
            "--interval: 0.015 is not allowed (seconds from 0.01 to 40.95 in steps of 0.01)",
        ),
        (
            ["--interval", "41"],
            "--interval: 41 is not allowed (seconds from 0.01 to 40.95)",
        ),
        (["--interval", "0"], "--interval: 0 is not allowed"),
        (
            ["--preempt-delay", "1001"],
            "--preempt-delay: 1001 is not allowed (seconds from 0 to 1000)",
        ),
        (
            ["--vrrp-checksum", "v2"],
            "--vrrp-checksum: v2 is not allowed (one of pseudo-header, rfc9568)",
        ),
        (["-p", "secret"], "--pass: given is not allowed (none: VRRPv3 has no authentication)"),
        (["--peer", "198.51.100.2"], "--peer: 198.51.100.2 is not allowed (none: VRRPv3 runs on"),
        (["-a", "2001:db8::1"], "a VRRPv3 group is one family"),
    ],
)
def test_vrrp3_flag_errors_name_the_flag_the_value_and_the_range(
    extra: list[str], message: str
) -> None:
    assert message in flag_error([*BASE, "--vrrp3", *extra])


def test_vrrp_only_flags_are_refused_for_a_carp_group(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYCARP_PASS", "secret")
    message = flag_error([*BASE, "--priority", "150"])
    assert message == "--priority: 150 is not allowed (only in a VRRPv3 group)"


def test_help_says_there_is_no_authentication(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--help"])
    out = capsys.readouterr().out
    assert "VRRPv3 HAS NO AUTHENTICATION" in out
    for flag in ("--vrrp3", "--priority", "--interval", "--no-preempt", "--preempt-delay"):
        assert flag in out
    assert "v3_checksum_as_v2" in out


VRRP_GROUP = """
[[group]]
protocol = "vrrp3"
interface = "eth0"
source = "2001:db8::1"
vhid = 9
addresses = ["2001:db8::100/64"]
priority = 200
interval = 0.1
preempt_delay = 3
"""


def write(tmp_path: pathlib.Path, text: str) -> pathlib.Path:
    path = tmp_path / "pycarp.toml"
    path.write_text(text)
    return path


def test_a_vrrp3_group_in_toml(tmp_path: pathlib.Path) -> None:
    (group,) = load_config(write(tmp_path, VRRP_GROUP)).groups
    settings = group.settings
    assert (settings.protocol, settings.priority, settings.interval_cs) == (Protocol.VRRP3, 200, 10)
    assert (settings.preempt, settings.preempt_delay) == (True, 3.0)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("priority = 200", "priority = 300"), "group[1].priority: 300 is not allowed"),
        (("priority = 200", 'priority = "200"'), "group[1].priority: 200 is not allowed (a number"),
        (("interval = 0.1", "interval = 0.001"), "group[1].interval: 0.001 is not allowed"),
        (("interval = 0.1", "advskew = 10"), "group[1].advskew: 10 is not allowed (CARP only"),
        (("interval = 0.1", 'passphrase = "x"'), "group[1].passphrase: given is not allowed"),
        (('protocol = "vrrp3"', 'protocol = "vrrp2"'), "group[1].protocol: vrrp2 is not allowed"),
    ],
)
def test_vrrp3_toml_errors(tmp_path: pathlib.Path, change: tuple[str, str], message: str) -> None:
    path = write(tmp_path, VRRP_GROUP.replace(*change))
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert message in str(raised.value)
