"""Values are taken as written, never coerced: the type, the digits and the name must be right.

A TOML value of the wrong type is refused (``passphrase = ["x"]`` once became the key
``['x']``), numbers are ASCII decimal only (``int()`` also reads Arabic-Indic digits, fullwidth
digits and "1_0"),
interface names follow the kernel's rule, and no error prints more than a short cut of a value.
"""

from __future__ import annotations

import pathlib

import pytest

from pycarp.config.build import PASS_ENV
from pycarp.config.flags import build_parser, config_from_args
from pycarp.config.model import SHOWN_LIMIT, ConfigError, DaemonConfig, shown
from pycarp.config.toml import load_config

SECRET = "strict-s3cret"
BASE = {
    "interface": '"eth0"',
    "source": '"198.51.100.1"',
    "vhid": "1",
    "passphrase": f'"{SECRET}"',
    "addresses": '["198.51.100.100/24"]',
}
FLAGS = ["-i", "eth0", "-s", "198.51.100.1", "-v", "1", "-a", "198.51.100.100", "-p", SECRET]


@pytest.fixture(autouse=True)
def no_pass_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PASS_ENV, raising=False)


def toml_group(**override: str) -> str:
    keys = {**BASE, **override}
    return "[[group]]\n" + "".join(f"{k} = {v}\n" for k, v in keys.items() if v)


def toml_error(tmp_path: pathlib.Path, text: str) -> str:
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    message = str(raised.value)
    assert "\n" not in message
    assert SECRET not in message
    return message.removeprefix(f"{path}: ")


def parse(argv: list[str]) -> DaemonConfig:
    return config_from_args(build_parser().parse_args(argv))


def flag_error(argv: list[str]) -> str:
    with pytest.raises(ConfigError) as raised:
        parse(argv)
    message = str(raised.value)
    assert "\n" not in message
    assert SECRET not in message
    return message


# -- TOML types --------------------------------------------------------------------------------

WRONG_TYPES = [
    ({"interface": "5"}, "group[1].interface: 5 is not allowed (a string, not an integer)"),
    ({"interface": '["eth0"]'}, "group[1].interface: ['eth0'] is not allowed (a string, not an"),
    ({"source": "1"}, "group[1].source: 1 is not allowed (a string, not an integer)"),
    ({"passfile": "true", "passphrase": ""}, "group[1].passfile: True is not allowed (a string"),
    ({"pass_env": "1", "passphrase": ""}, "group[1].pass_env: 1 is not allowed (a string"),
    ({"signature_mode": "1"}, "group[1].signature_mode: 1 is not allowed (a string"),
    ({"address_mode": "true"}, "group[1].address_mode: True is not allowed (a string"),
    ({"upscript": "[]"}, "group[1].upscript: [] is not allowed (a string, not an array)"),
    ({"xparam": "7"}, "group[1].xparam: 7 is not allowed (a string, not an integer)"),
    ({"destination": "[1]"}, "group[1].destination: [1] is not allowed (a string"),
    ({"notify": '["logger", 1]'}, "group[1].notify: 1 is not allowed (a list of strings"),
    ({"notify": "3"}, "group[1].notify: 3 is not allowed (a string, not an integer)"),
    ({"addresses": '["198.51.100.100", 5]'}, "group[1].addresses: 5 is not allowed (a string"),
    ({"addresses": "{a = 1}"}, "group[1].addresses: {'a': 1} is not allowed"),
    ({"vhid": '"12"'}, "group[1].vhid: 12 is not allowed (a number, written without quotes)"),
    ({"advbase": '"1"'}, "group[1].advbase: 1 is not allowed (a number, written without quotes"),
    ({"script_timeout": '"5"'}, "group[1].script_timeout: 5 is not allowed (a number"),
    ({"vhid": "true"}, "group[1].vhid: True is not allowed (an integer from 1 to 255)"),
    ({"advskew": "1.5"}, "group[1].advskew: 1.5 is not allowed (an integer from 0 to 254)"),
    ({"dead_ratio": "[3]"}, "group[1].dead_ratio: [3] is not allowed (an integer from 1"),
    ({"script_timeout": "true"}, "group[1].script_timeout: True is not allowed (seconds"),
    ({"script_timeout": "nan"}, "group[1].script_timeout: nan is not allowed (seconds"),
    ({"script_timeout": "inf"}, "group[1].script_timeout: inf is not allowed (seconds"),
    ({"preempt": "1"}, "group[1].preempt: 1 is not allowed (true or false)"),
    ({"ignore_ifstate": '"yes"'}, "group[1].ignore_ifstate: yes is not allowed (true or false)"),
]


@pytest.mark.parametrize(("override", "expected"), WRONG_TYPES, ids=[w[1] for w in WRONG_TYPES])
def test_a_toml_value_of_the_wrong_type_is_refused(
    tmp_path: pathlib.Path, override: dict[str, str], expected: str
) -> None:
    assert toml_error(tmp_path, toml_group(**override)).startswith(expected)


def test_a_passphrase_of_the_wrong_type_is_refused_without_showing_it(
    tmp_path: pathlib.Path,
) -> None:
    message = toml_error(tmp_path, toml_group(passphrase=f'["{SECRET}"]'))
    assert message == "group[1].passphrase: <an array> is not allowed (a string, not an array)"
    message = toml_error(tmp_path, toml_group(passphrase="12345"))
    assert message.startswith("group[1].passphrase: <an integer> is not allowed")
    assert "12345" not in message


def test_toml_numbers_and_a_float_timeout_load(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(toml_group(vhid="200", advskew="0", script_timeout="2.5"))
    (group,) = load_config(path).groups
    assert (group.settings.vhid, group.settings.advskew, group.script_timeout) == (200, 0, 2.5)


def test_daemon_facility_must_be_a_string(tmp_path: pathlib.Path) -> None:
    message = toml_error(tmp_path, "[daemon]\nfacility = 3\n" + toml_group())
    assert message.startswith("[daemon].facility: 3 is not allowed")


# -- numbers: ASCII decimal only ------------------------------------------------------------

ARABIC_INDIC_12 = "\u0661\u0662"
FULLWIDTH_1 = "\uff11"
NOT_ASCII_DECIMAL = [
    ARABIC_INDIC_12,
    FULLWIDTH_1,
    "1_0",
    " 1",
    "1 ",
    "+1",
    "0x1",
    "1.0",
    "",
    "\u00b2",
    "99999999999999",
]


@pytest.mark.parametrize("written", NOT_ASCII_DECIMAL)
@pytest.mark.parametrize("flag", ["--vhid", "--advbase", "--advskew", "--deadratio"])
def test_flag_numbers_are_ascii_decimal(written: str, flag: str) -> None:
    argv = [*FLAGS, flag, written]
    assert flag_error(argv).startswith(f"{flag}: ")


@pytest.mark.parametrize("written", [ARABIC_INDIC_12, FULLWIDTH_1, "1_0"])
def test_non_ascii_digits_in_a_toml_string_are_refused(
    tmp_path: pathlib.Path, written: str
) -> None:
    message = toml_error(tmp_path, toml_group(vhid=f'"{written}"'))
    assert message.startswith(f"group[1].vhid: {written} is not allowed")


@pytest.mark.parametrize(
    "written", ["\u0661", FULLWIDTH_1, "1e3", "inf", "nan", "1_0", ".5", "2.", "-1"]
)
def test_flag_seconds_are_ascii_decimal(written: str) -> None:
    assert flag_error([*FLAGS, "--script-timeout", written]).startswith("--script-timeout: ")


def test_ascii_decimal_flags_still_parse() -> None:
    argv = [*FLAGS, "-v", "012", "-b", "2", "-k", "254", "-r", "5", "--script-timeout", "2.5"]
    (group,) = parse(argv).groups
    assert (group.settings.vhid, group.settings.advbase, group.settings.advskew) == (12, 2, 254)
    assert (group.settings.dead_ratio, group.script_timeout) == (5, 2.5)


# -- interface names ------------------------------------------------------------------------

BAD_NAMES = [
    ".",
    "..",
    "eth 0",
    "eth\t0",
    "eth0\n",
    "eth0/1",
    "eth0:1",
    "éth0",
    "eth\x7f",
    "a" * 16,
]


@pytest.mark.parametrize("name", BAD_NAMES, ids=repr)
def test_interface_names_follow_the_kernel_rule(name: str) -> None:
    message = flag_error(["-i", name, *FLAGS[2:]])
    assert message.startswith("--interface: ")
    assert "1-15 printable ASCII characters" in message


@pytest.mark.parametrize("name", ["a" * 15, "eth0.100", "br-lan", "wg@0", "veth_x", "...", "a.b"])
def test_unusual_but_valid_interface_names(name: str) -> None:
    (group,) = parse(["-i", name, *FLAGS[2:]]).groups
    assert group.interface == name


def test_an_empty_interface_name_is_refused() -> None:
    assert flag_error(["-i", "", *FLAGS[2:]]).startswith("--interface: ")


# -- long values are cut --------------------------------------------------------------------


def test_a_megabyte_value_prints_a_short_line(tmp_path: pathlib.Path) -> None:
    huge = "x" * 1_000_000
    message = toml_error(tmp_path, toml_group(source=f'"{huge}"'))
    assert message.startswith("group[1].source: xxx")
    assert len(message) < 200
    assert "x" * SHOWN_LIMIT not in message
    assert f"group[1].source: {shown(huge)} is not allowed" in message


def test_a_long_flag_value_is_cut_too() -> None:
    message = flag_error([*FLAGS, "-a", "1" * 100_000])
    assert len(message) < 200
    assert message.startswith("--addr: 111")


def test_a_long_or_multiline_unknown_key_is_cut(tmp_path: pathlib.Path) -> None:
    message = toml_error(tmp_path, toml_group() + f"{'k' * 10_000} = 1\n")
    assert len(message) < 500
    message = toml_error(tmp_path, toml_group() + '"a\\nb" = 1\n')
    assert message.startswith("group[1].'a\\nb': unknown key")


def test_a_long_pass_env_name_is_cut_where_the_error_names_it(tmp_path: pathlib.Path) -> None:
    message = toml_error(tmp_path, toml_group(passphrase="", pass_env=f'"{"V" * 100_000}"'))
    assert message.startswith("group[1].pass_env: missing is not allowed (give --passfile")
    assert len(message) < 300


def test_shown_cuts_at_the_limit_with_an_ellipsis() -> None:
    assert shown("a" * SHOWN_LIMIT) == "a" * SHOWN_LIMIT
    cut = shown("a" * 100 + "/the/end")
    assert len(cut) == SHOWN_LIMIT
    assert cut.startswith("a" * 30)
    assert "..." in cut
    assert cut.endswith("/the/end")
    assert shown("line\nbreak") == "'line\\nbreak'"
    assert len(shown(list(range(100_000)))) == SHOWN_LIMIT


# -- passphrases are bytes as typed -----------------------------------------------------------


def test_a_passphrase_that_is_not_utf8_is_used_as_its_bytes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Python hands non-UTF-8 argv and environment bytes over as surrogates: encode() raised.
    (group,) = parse([*FLAGS[:-1], "\udcff\udcfeab"]).groups
    assert group.settings.passphrase == b"\xff\xfeab"
    monkeypatch.setenv(PASS_ENV, "\udcffenv")
    (group,) = parse(FLAGS[:-2]).groups
    assert group.settings.passphrase == b"\xffenv"


def test_a_zone_is_refused_with_its_reason() -> None:
    message = flag_error([*FLAGS, "-a", "fe80::100%eth0"])
    assert message == (
        "--addr: fe80::100%eth0 is not allowed "
        "(an address without %zone: the interface is the zone)"
    )
