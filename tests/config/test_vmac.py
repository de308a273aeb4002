"""``vmac``: its configuration, and the pure parts of the platform side (names, MACs, sysctls)."""

from __future__ import annotations

import pathlib

import pytest

from pycarp.config.flags import build_parser, config_from_args
from pycarp.config.model import ConfigError
from pycarp.config.toml import load_config
from pycarp.platform.vmac import Sysctls, interface_name, virtual_mac

GROUP = """\
[[group]]
interface = "eth0"
source = "198.51.100.1"
vhid = 5
passphrase = "p"
addresses = ["198.51.100.100/24"]
"""

FLAGS = ["-i", "eth0", "-s", "198.51.100.1", "-v", "5", "-p", "p", "-a", "198.51.100.100/24"]


def test_off_unless_asked() -> None:
    (group,) = config_from_args(build_parser().parse_args(FLAGS)).groups
    assert not group.vmac
    (group,) = config_from_args(build_parser().parse_args([*FLAGS, "--vmac"])).groups
    assert group.vmac


def test_toml_key(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "pycarp.toml"
    path.write_text(GROUP + "vmac = true\n")
    assert load_config(path).groups[0].vmac
    path.write_text(GROUP + 'vmac = "yes"\n')
    with pytest.raises(ConfigError, match=r"group 1 vmac|vmac"):
        load_config(path)


@pytest.mark.parametrize(
    "extra",
    [["--address-mode", "scripts"], ["--upscript", "/bin/true"]],
    ids=["scripts-mode", "auto-with-a-script"],
)
def test_needs_native_addresses(extra: list[str]) -> None:
    args = build_parser().parse_args([*FLAGS, "--vmac", *extra])
    with pytest.raises(ConfigError) as raised:
        config_from_args(args)
    assert str(raised.value).startswith("--vmac: True is not allowed (needs native address mode")
    args = build_parser().parse_args([*FLAGS, "--vmac", *extra, "--address-mode", "native"])
    assert config_from_args(args).groups[0].vmac


def test_virtual_macs_are_ianas_vrrp_block() -> None:
    assert virtual_mac(1) == "00:00:5e:00:01:01"
    assert virtual_mac(255) == "00:00:5e:00:01:ff"
    assert virtual_mac(7, vrrp_ipv6=True) == "00:00:5e:00:02:07"
    with pytest.raises(ValueError, match="vhid 0"):
        virtual_mac(0)


def test_interface_names_fit_linux_and_stay_apart() -> None:
    assert interface_name("eth0", 7) == "eth0.c7"
    assert interface_name("enp0s31f6", 255) == "enp0s31f6.c255"
    long_a, long_b = interface_name("verylongname01", 9), interface_name("verylongname02", 9)
    assert long_a != long_b
    assert all(len(name) <= 15 and name.startswith("carp9x") for name in (long_a, long_b))


def _conf(root: pathlib.Path, interface: str, **values: int) -> None:
    folder = root / "net" / "ipv4" / "conf" / interface
    folder.mkdir(parents=True, exist_ok=True)
    for key, value in values.items():
        (folder / key).write_text(f"{value}\n")


def _value(root: pathlib.Path, interface: str, key: str) -> str:
    return (root / "net" / "ipv4" / "conf" / interface / key).read_text().strip()


def test_sysctls_are_raised_only_when_needed_and_restored(tmp_path: pathlib.Path) -> None:
    _conf(tmp_path, "all", arp_ignore=0, arp_announce=2)
    _conf(tmp_path, "eth0", arp_ignore=0, arp_announce=0)
    sysctls = Sysctls(tmp_path)
    assert sysctls.raise_to("eth0", "arp_ignore", 1)
    assert not sysctls.raise_to("eth0", "arp_announce", 2)  # "all" already gives 2
    assert not sysctls.raise_to("eth0", "arp_ignore", 1)  # done once, remembered once
    assert _value(tmp_path, "eth0", "arp_ignore") == "1"
    assert sysctls.changed == {"net/ipv4/conf/eth0/arp_ignore": "0"}
    sysctls.restore()
    assert _value(tmp_path, "eth0", "arp_ignore") == "0"
    assert _value(tmp_path, "eth0", "arp_announce") == "0"
    assert sysctls.changed == {}


def test_restoring_skips_an_interface_that_went_away(tmp_path: pathlib.Path) -> None:
    _conf(tmp_path, "all", arp_ignore=0)
    _conf(tmp_path, "eth1", arp_ignore=0)
    sysctls = Sysctls(tmp_path)
    sysctls.raise_to("eth1", "arp_ignore", 1)
    for child in (tmp_path / "net" / "ipv4" / "conf" / "eth1").iterdir():
        child.unlink()
    (tmp_path / "net" / "ipv4" / "conf" / "eth1").rmdir()
    sysctls.restore()  # no error: the interface and its settings are gone
    assert sysctls.changed == {}
