"""Every numeric protocol setting has one range, written in core/settings.py, and every way of
writing the setting (a command-line flag, a TOML key, GroupSettings itself) enforces that range
with the same one-line error: the field as written, the value and the allowed range.

The rows are read from SETTING_RANGES, so a setting added there (VRRPv3's ``priority``) is
checked here on every front end that has it, without a new test.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import pathlib

import pytest

from pycarp.config.build import VRRP_ONLY, RawGroup
from pycarp.config.flags import FLAG_NAMES, build_parser, config_from_args
from pycarp.config.model import (
    ConfigError,
    DaemonConfig,
    parse_setting,
    parse_setting_seconds,
)
from pycarp.config.toml import load_config
from pycarp.core.constants import IPAddress
from pycarp.core.settings import SETTING_RANGES, GroupSettings, Range, SettingsError

SECRET = "ranges-s3cret"
RAW_KEYS = {f.name for f in dataclasses.fields(RawGroup)}
# Settings a user writes (senderr_demotion is the kernel's constant, not an option).
WRITTEN = sorted(set(SETTING_RANGES) & RAW_KEYS)
FLAG_WRITTEN = [s for s in WRITTEN if s in FLAG_NAMES]


def outside(allowed: Range) -> list[float]:
    step = 1 if allowed.unit is None else 0.01
    return [allowed.low - step, allowed.high + step]


def ends(allowed: Range) -> list[float]:
    return [allowed.low, allowed.high]


def as_text(value: float) -> str:
    return f"{value:g}"


def flags_with(setting: str, value: str) -> list[str]:
    argv = ["-i", "eth0", "-s", "198.51.100.1", "-v", "1", "-a", "198.51.100.100"]
    argv += ["--vrrp3"] if setting in VRRP_ONLY else ["-p", SECRET]  # VRRPv3 has no key
    return [*argv, FLAG_NAMES[setting], value]


def parse(argv: list[str]) -> DaemonConfig:
    return config_from_args(build_parser().parse_args(argv))


def toml_with(tmp_path: pathlib.Path, setting: str, value: float) -> pathlib.Path:
    keys = {
        "interface": '"eth0"',
        "source": '"198.51.100.1"',
        "vhid": "1",
        "passphrase": f'"{SECRET}"',
        "addresses": '["198.51.100.100/24"]',
        setting: as_text(value),
    }
    if setting in VRRP_ONLY:  # a VRRPv3 group: its own settings, and no key
        del keys["passphrase"]
        keys["protocol"] = '"vrrp3"'
    path = tmp_path / "ranges.toml"
    path.write_text("[[group]]\n" + "".join(f"{k} = {v}\n" for k, v in keys.items()))
    return path


def test_the_table_names_only_fields_of_group_settings() -> None:
    fields = {f.name for f in dataclasses.fields(GroupSettings)}
    assert set(SETTING_RANGES) <= fields
    assert {"vhid", "advbase", "advskew", "dead_ratio"} <= set(WRITTEN)


@pytest.mark.parametrize("setting", sorted(SETTING_RANGES))
def test_group_settings_refuses_each_value_outside_its_range(setting: str) -> None:
    allowed = SETTING_RANGES[setting]
    base = {"vhid": 1, "passphrase": b"x", "addresses": _addresses()}
    for value in outside(allowed):
        with pytest.raises(SettingsError) as caught:
            GroupSettings(**{**base, setting: value})  # type: ignore[arg-type]
        assert caught.value.field == setting
        assert caught.value.allowed == allowed.allowed()
    for value in ends(allowed):
        settings = GroupSettings(**{**base, setting: value})  # type: ignore[arg-type]
        assert getattr(settings, setting) == value


@pytest.mark.parametrize("setting", FLAG_WRITTEN)
def test_a_flag_outside_its_range_is_one_line_with_the_range(setting: str) -> None:
    allowed = SETTING_RANGES[setting]
    for value in outside(allowed):
        with pytest.raises(ConfigError) as caught:
            parse(flags_with(setting, as_text(value)))
        flag = FLAG_NAMES[setting]
        assert str(caught.value) == (
            f"{flag}: {as_text(value)} is not allowed ({allowed.allowed()})"
        )
    for value in ends(allowed):
        config = parse(flags_with(setting, as_text(value)))
        assert getattr(config.groups[0].settings, setting) == value


@pytest.mark.parametrize("setting", WRITTEN)
def test_a_toml_key_outside_its_range_is_one_line_with_the_range(
    tmp_path: pathlib.Path, setting: str
) -> None:
    allowed = SETTING_RANGES[setting]
    for value in outside(allowed):
        path = toml_with(tmp_path, setting, value)
        with pytest.raises(ConfigError) as caught:
            load_config(path)
        assert str(caught.value) == (
            f"{path}: group[1].{setting}: {as_text(value)} is not allowed ({allowed.allowed()})"
        )
    for value in ends(allowed):
        config = load_config(toml_with(tmp_path, setting, value))
        assert getattr(config.groups[0].settings, setting) == value


@pytest.mark.parametrize("setting", WRITTEN)
def test_a_toml_number_in_quotes_is_refused(tmp_path: pathlib.Path, setting: str) -> None:
    path = toml_with(tmp_path, setting, SETTING_RANGES[setting].low)
    written = f"{setting} = {as_text(SETTING_RANGES[setting].low)}"
    path.write_text(path.read_text().replace(written, f'{setting} = "{written.split(" = ")[1]}"'))
    with pytest.raises(ConfigError, match="a number, written without quotes"):
        load_config(path)


def test_a_decimal_range_takes_fractions_and_says_its_unit() -> None:
    """The shape VRRPv3's interval (0.01 to 40.95 s) will take: a unit allows decimals."""
    interval = Range(0.01, 40.95, "seconds")
    assert interval.contains(0.01)
    assert interval.contains(40.95)
    assert interval.contains(1)
    assert not interval.contains(0.005)
    assert not interval.contains(41)
    assert not interval.contains(float("nan"))
    assert not interval.contains(True)
    assert interval.allowed() == "seconds from 0.01 to 40.95"
    assert str(interval) == "0.01-40.95"


def test_a_whole_number_range_refuses_fractions_and_booleans() -> None:
    skew = Range(0, 254)
    assert skew.contains(0)
    assert skew.contains(254)
    assert not skew.contains(1.5)
    assert not skew.contains(True)
    assert not skew.contains(255)
    assert skew.allowed() == "an integer from 0 to 254"


def test_the_help_shows_the_ranges_of_the_table() -> None:
    text = build_parser().format_help()
    for setting in ("vhid", "advbase", "advskew"):
        assert str(SETTING_RANGES[setting]) in text


def _addresses() -> tuple[IPAddress, ...]:
    return (ipaddress.IPv4Address("198.51.100.100"),)


def test_a_new_seconds_setting_needs_only_its_row(monkeypatch: pytest.MonkeyPatch) -> None:
    """How VRRPv3's interval will be added: a row, and the parser names field, value, range."""
    monkeypatch.setitem(SETTING_RANGES, "interval", Range(0.01, 40.95, "seconds"))
    assert parse_setting_seconds("group[1].interval", 0.5, "interval") == 0.5
    assert parse_setting_seconds("--interval", "40.95", "interval") == 40.95
    with pytest.raises(ConfigError) as caught:
        parse_setting_seconds("group[1].interval", 41, "interval")
    assert str(caught.value) == (
        "group[1].interval: 41 is not allowed (seconds from 0.01 to 40.95)"
    )
    with pytest.raises(TypeError):
        parse_setting("group[1].interval", 1, "interval")
    with pytest.raises(TypeError):
        parse_setting_seconds("group[1].vhid", 1, "vhid")
