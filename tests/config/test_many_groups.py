"""A file of 10,000 groups loads, correctly (the time it takes is bench/config_load.py's job).

The duplicate check once compared every group with every earlier one: 10,000 groups took ~13 s.
10,000 groups means 40 interfaces of 250 vhids each, sharing one passfile.
"""

from __future__ import annotations

import ipaddress
import pathlib

import pytest

from pycarp.config.model import ConfigError
from pycarp.config.toml import load_config

VHIDS = 250


def group_table(number: int, passfile: pathlib.Path) -> str:
    interface, vhid = divmod(number, VHIDS)
    vhid += 1
    if interface % 2:
        source, address = "203.0.113.1", f"203.0.113.{vhid + 1}/24"
    else:
        source, address = (
            f"2001:db8:{interface:x}::1",
            f"2001:db8:{interface:x}::{vhid + 0x100:x}/64",
        )
    return (
        f'[[group]]\ninterface = "eth{interface}"\nsource = "{source}"\nvhid = {vhid}\n'
        f'passfile = "{passfile}"\naddresses = ["{address}"]\nadvskew = {number % 255}\n'
    )


def write(tmp_path: pathlib.Path, numbers: list[int]) -> pathlib.Path:
    passfile = tmp_path / "secret"
    passfile.write_text("many-groups\n")
    path = tmp_path / "groups.toml"
    path.write_text("\n".join(group_table(number, passfile) for number in numbers))
    return path


def test_ten_thousand_groups_load_in_file_order(tmp_path: pathlib.Path) -> None:
    config = load_config(write(tmp_path, list(range(10_000))))
    assert len(config.groups) == 10_000
    assert len({group.key for group in config.groups}) == 10_000
    assert len({group.interface for group in config.groups}) == 40
    last = config.groups[-1]
    assert last.key == ("eth39", 250)
    assert last.prefixes == (ipaddress.ip_interface("203.0.113.251/24"),)
    assert last.settings.advskew == 9_999 % 255
    assert config.groups[250].settings.source == ipaddress.ip_address("203.0.113.1")
    assert {group.settings.passphrase for group in config.groups} == {b"many-groups"}


def test_a_duplicate_at_the_end_of_a_long_file_names_both_groups(tmp_path: pathlib.Path) -> None:
    path = write(tmp_path, [*range(1_000), 260])
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert str(raised.value) == (
        f"{path}: group[1001].vhid: 11 on eth1 again is not allowed "
        "(one group per vhid and interface: group[261] has it)"
    )
