"""All groups of an interface and address family share one advert socket, hence one source."""

from __future__ import annotations

import pathlib

import pytest

from pycarp.config.model import ConfigError
from pycarp.config.toml import load_config

GROUP = """
[[group]]
interface = "{interface}"
source = "{source}"
vhid = {vhid}
passphrase = "secret"
addresses = ["{address}"]
"""


def _write(tmp_path: pathlib.Path, *groups: tuple[str, str, int, str]) -> pathlib.Path:
    path = tmp_path / "groups.toml"
    path.write_text(
        "".join(GROUP.format(interface=i, source=s, vhid=v, address=a) for i, s, v, a in groups)
    )
    return path


def test_two_sources_on_one_interface_are_refused(tmp_path: pathlib.Path) -> None:
    path = _write(
        tmp_path,
        ("eth0", "198.51.100.1", 1, "198.51.100.100"),
        ("eth0", "198.51.100.2", 2, "198.51.100.101"),
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert "source of vhid 2" in str(caught.value)
    assert "198.51.100.1" in str(caught.value)


def test_sources_may_differ_across_interfaces_and_families(tmp_path: pathlib.Path) -> None:
    path = _write(
        tmp_path,
        ("eth0", "198.51.100.1", 1, "198.51.100.100"),
        ("eth1", "203.0.113.1", 1, "203.0.113.100"),
        ("eth0", "2001:db8::1", 2, "2001:db8::100"),
    )
    assert len(load_config(path).groups) == 3
