"""``--config FILE``: many groups from TOML; every error names the file and ``group[N].key``."""

from __future__ import annotations

import ipaddress
import pathlib

import pytest

from pycarp.config.build import PASS_ENV
from pycarp.config.model import AddressMode, ConfigError
from pycarp.config.toml import load_config

SECRET = "toml-s3cret"

TWO_GROUPS = f"""\
[daemon]
debug = true
facility = "local2"

[[group]]
interface = "eth0"
source = "198.51.100.1"
vhid = 1
passphrase = "{SECRET}"
addresses = ["198.51.100.100/24", "2001:db8::100/64"]
advskew = 10
preempt = true

[[group]]
interface = "eth1"
source = "203.0.113.1"
vhid = 2
pass_env = "MY_CARP_PASS"
addresses = "203.0.113.100/24"
advbase = 0
advskew = 25
demote_on_wire = "byte"
dead_ratio = 4
signature_mode = "ucarp"
address_mode = "scripts"
notify = ["logger", "-t", "carp event"]
xparam = "x"
script_timeout = 5
"""

GROUP = """\
[[group]]
interface = "eth0"
source = "198.51.100.1"
vhid = 1
passphrase = "p"
addresses = ["198.51.100.100/24"]
"""


def write(tmp_path: pathlib.Path, text: str) -> pathlib.Path:
    path = tmp_path / "pycarp.toml"
    path.write_text(text)
    return path


def test_a_two_group_file_loads(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_CARP_PASS", "from-env")
    path = write(tmp_path, TWO_GROUPS)
    config = load_config(path)
    assert (config.debug, config.facility, config.config_path) == (True, "local2", path)
    first, second = config.groups
    assert first.key == ("eth0", 1)
    assert first.prefixes == (
        ipaddress.ip_interface("198.51.100.100/24"),
        ipaddress.ip_interface("2001:db8::100/64"),
    )
    assert first.settings.passphrase == SECRET.encode()
    assert (first.settings.advskew, first.settings.preempt) == (10, True)
    assert first.native_addresses
    assert second.key == ("eth1", 2)
    assert second.prefixes == (ipaddress.ip_interface("203.0.113.100/24"),)
    assert second.settings.passphrase == b"from-env"
    assert (second.settings.advbase, second.settings.advskew) == (0, 25)  # OpenBSD sub-second
    assert second.settings.dead_ratio == 4
    assert second.settings.demote_on_wire.value == "byte"
    assert second.settings.signature_mode.value == "ucarp"
    assert second.address_mode is AddressMode.SCRIPTS
    assert not second.native_addresses
    assert second.notify == ("logger", "-t", "carp event")
    assert (second.xparam, second.script_timeout) == ("x", 5.0)
    assert SECRET not in repr(config)


def test_the_same_file_loads_to_the_same_config(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SIGHUP compares the reloaded groups with the running ones: equal files, equal configs.
    monkeypatch.setenv("MY_CARP_PASS", "from-env")
    path = write(tmp_path, TWO_GROUPS)
    assert load_config(path) == load_config(path)


def error_for(tmp_path: pathlib.Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: "), message
    assert SECRET not in message
    return message.removeprefix(f"{path}: ")


def second_group(**override: str) -> str:
    lines = GROUP.replace("vhid = 1", "vhid = 2").splitlines()
    for key, value in override.items():
        lines = [line for line in lines if not line.startswith(f"{key} =")]
        if value:
            lines.append(f"{key} = {value}")
    return GROUP + "\n" + "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ({"vhid": "0"}, "group[2].vhid: 0 is not allowed"),
        ({"vhid": "1.5"}, "group[2].vhid: 1.5 is not allowed"),
        ({"advskew": "255"}, "group[2].advskew: 255 is not allowed"),
        ({"advbase": "256"}, "group[2].advbase: 256 is not allowed"),
        ({"advbase": "-1"}, "group[2].advbase: -1 is not allowed (an integer from 0 to 255)"),
        ({"demote_on_wire": '"pad1"'}, "group[2].demote_on_wire: pad1 is not allowed"),
        ({"source": '"198.51.100.256"'}, "group[2].source: 198.51.100.256 is not allowed"),
        ({"source": ""}, "group[2].source: missing"),
        ({"interface": ""}, "group[2].interface: missing"),
        ({"addresses": '["nope"]'}, "group[2].addresses: nope is not allowed"),
        ({"addresses": "5"}, "group[2].addresses: 5 is not allowed"),
        ({"addresses": "[]"}, "group[2].addresses: none"),
        ({"passphrase": ""}, "group[2].passphrase: missing"),
        ({"key_hex": '"0102"'}, "group[2].key_hex: given too"),
        ({"passphrase": "", "key_hex": '"' + "ab" * 21 + '"'}, "group[2].key_hex: <21 bytes>"),
        ({"pass_env": '"NO_SUCH_VARIABLE_HERE"'}, "group[2].pass_env: given too"),
        ({"passfile": '"/nonexistent/pass"'}, "group[2].passfile: given too"),
        ({"preempt": '"false"'}, "group[2].preempt: false is not allowed (true or false)"),
        ({"neutral": "1"}, "group[2].neutral: 1 is not allowed (true or false)"),
        ({"signature_mode": '"md5"'}, "group[2].signature_mode: md5 is not allowed"),
        ({"address_mode": '"x"'}, "group[2].address_mode: x is not allowed"),
        ({"upscript": '"/nonexistent/up.sh"'}, "group[2].upscript: /nonexistent/up.sh is not"),
        ({"script_timeout": "0"}, "group[2].script_timeout: 0 is not allowed"),
        ({"notify": "[]"}, "group[2].notify: [] is not allowed"),
        ({"vhid": "1"}, "group[2].vhid: 1 on eth0 again is not allowed"),
        ({"advskw": "3"}, "group[2].advskw: unknown key"),
        ({"source": '"""198.51.100.1\nx"""'}, "group[2].source: '198.51.100.1\\nx' is not"),
    ],
    ids=str,
)
def test_group_errors_name_group_n_key(
    tmp_path: pathlib.Path,
    monkeypatch: pytest.MonkeyPatch,
    override: dict[str, str],
    named: str,
) -> None:
    monkeypatch.delenv(PASS_ENV, raising=False)
    assert error_for(tmp_path, second_group(**override)).startswith(named)


def test_passfile_and_pass_env_alone(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NO_SUCH_VARIABLE_HERE", raising=False)
    no_pass = GROUP.replace('passphrase = "p"\n', "")
    message = error_for(tmp_path, no_pass + 'pass_env = "NO_SUCH_VARIABLE_HERE"\n')
    assert message.startswith("group[1].pass_env: missing")
    message = error_for(tmp_path, no_pass + 'passfile = "/nonexistent/pass"\n')
    assert message.startswith("group[1].passfile: /nonexistent/pass is not allowed (a readable")
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET + "\n")
    config = load_config(write(tmp_path, no_pass + f'passfile = "{secret_file}"\n'))
    assert config.groups[0].settings.passphrase == SECRET.encode()


@pytest.mark.parametrize(
    ("text", "named"),
    [
        (GROUP + "advskew = \n", "not valid TOML"),
        ("[[group]\n", "not valid TOML"),
        ("", "no [[group]]"),
        ("[group]\ninterface = 'eth0'\n", "no [[group]]"),
        (
            GROUP + "[other]\nx = 1\n",
            "other is not allowed (sections [daemon], [[group]] and [[track]])",
        ),
        ("[daemon]\nverbose = true\n" + GROUP, "[daemon]: "),
        ('[daemon]\nfacility = "bogus"\n' + GROUP, "[daemon].facility: bogus is not allowed"),
        ('[daemon]\ndebug = "yes"\n' + GROUP, "[daemon].debug: yes is not allowed"),
    ],
)
def test_file_level_errors_are_one_line(tmp_path: pathlib.Path, text: str, named: str) -> None:
    assert error_for(tmp_path, text).startswith(named)


def test_binary_garbage_and_a_missing_file(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "garbage.toml"
    path.write_bytes(b"\xff\xfe\x00\x01")
    with pytest.raises(ConfigError, match=r"not valid TOML"):
        load_config(path)
    with pytest.raises(ConfigError, match=r"^--config: .*a readable file"):
        load_config(tmp_path / "missing.toml")
