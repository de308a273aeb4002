"""The start-up check against the host: interfaces exist, sources are the host's own.

Run against the runtime's fake address manager, with interfaces that do not exist raising
ENODEV as netlink does (the real kernel: tests/netns/test_daemon_preflight.py).
"""

from __future__ import annotations

import errno
import ipaddress
import pathlib

import pytest

from pycarp.config.build import PASS_ENV
from pycarp.config.flags import build_parser, config_from_args
from pycarp.config.model import ConfigError, DaemonConfig
from pycarp.config.toml import load_config
from pycarp.core.constants import IPInterface
from pycarp.runtime.preflight import check_host

from .fakes import FakeAddressManager


class HostAddresses(FakeAddressManager):
    """The fake, with a fixed set of interfaces: any other is ENODEV, like RTM_GETLINK."""

    def __init__(self, table: dict[str, list[str]], *, fail: OSError | None = None) -> None:
        super().__init__()
        self.fail = fail
        self.dumps: list[str] = []
        self.known = set(table)
        for interface, addresses in table.items():
            for address in addresses:
                self.add(interface, ipaddress.ip_interface(address))

    def addresses(self, interface: str) -> set[IPInterface]:
        self.dumps.append(interface)
        if self.fail is not None:
            raise self.fail
        if interface not in self.known:
            raise OSError(errno.ENODEV, f"no interface {interface}")
        return super().addresses(interface)


HOST = HostAddresses(
    {
        "eth0": ["198.51.100.1/24", "2001:db8::1/64", "fe80::1/64"],
        "eth1": ["203.0.113.1/24"],
    }
)


@pytest.fixture(autouse=True)
def pass_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASS_ENV, "secret")


def flags(*argv: str) -> DaemonConfig:
    return config_from_args(build_parser().parse_args(list(argv)))


def group(interface: str = "eth0", source: str = "198.51.100.1", *extra: str) -> DaemonConfig:
    virtual = "2001:db8::100/64" if ":" in source else "198.51.100.100/24"
    return flags("-i", interface, "-s", source, "-v", "1", "-a", virtual, *extra)


def refused(config: DaemonConfig, host: HostAddresses = HOST) -> str:
    with pytest.raises(ConfigError) as raised:
        check_host(config, host)
    assert "\n" not in str(raised.value)
    return str(raised.value)


@pytest.mark.parametrize(
    ("interface", "source"),
    [
        ("eth0", "198.51.100.1"),
        ("eth0", "2001:db8::1"),
        ("eth0", "fe80::1"),
        ("eth1", "203.0.113.1"),
    ],
)
def test_a_source_on_its_interface_passes(interface: str, source: str) -> None:
    check_host(group(interface, source), HOST)


def test_a_missing_interface_is_named() -> None:
    assert (
        refused(group("eth9")) == "--interface: eth9 is not allowed (an existing network interface)"
    )


def test_a_source_not_on_the_interface_names_both() -> None:
    assert refused(group("eth0", "198.51.100.9")) == (
        "--srcip: 198.51.100.9 is not allowed "
        "(an address of eth0, whose IPv4 addresses are 198.51.100.1)"
    )


def test_a_source_on_another_interface_is_not_on_this_one() -> None:
    message = refused(group("eth1", "198.51.100.1"))
    assert message.startswith("--srcip: 198.51.100.1 is not allowed (an address of eth1, ")


def test_an_interface_without_addresses_of_the_family() -> None:
    message = refused(group("eth1", "2001:db8::1"))
    assert message.endswith("(an address of eth1, whose IPv6 addresses are none)")


def test_many_addresses_are_listed_briefly() -> None:
    host = HostAddresses({"eth0": [f"198.51.100.{n}/24" for n in range(10, 30)]})
    message = refused(group("eth0", "198.51.100.1"), host)
    assert message.endswith(
        "whose IPv4 addresses are 198.51.100.10, 198.51.100.11, 198.51.100.12, 198.51.100.13 "
        "and 16 more)"
    )


def test_an_unreadable_interface_says_why() -> None:
    host = HostAddresses({"eth0": []}, fail=PermissionError(errno.EPERM, "Operation not permitted"))
    assert refused(group(), host) == (
        "--interface: eth0 is not allowed "
        "(an interface whose addresses can be read: Operation not permitted)"
    )


def write_groups(tmp_path: pathlib.Path, groups: list[tuple[str, str, int]]) -> pathlib.Path:
    path = tmp_path / "c.toml"
    path.write_text(
        "".join(
            f'[[group]]\ninterface = "{interface}"\nsource = "{source}"\nvhid = {vhid}\n'
            f'passphrase = "p"\naddresses = ["{"2001:db8::" if ":" in source else "198.51.100."}'
            f'{100 + vhid}"]\n'
            for interface, source, vhid in groups
        )
    )
    return path


def test_a_file_names_the_group_and_key(tmp_path: pathlib.Path) -> None:
    path = write_groups(tmp_path, [("eth0", "198.51.100.1", 1), ("eth7", "198.51.100.1", 2)])
    message = refused(load_config(path))
    assert (
        message
        == f"{path}: group[2].interface: eth7 is not allowed (an existing network interface)"
    )
    path = write_groups(tmp_path, [("eth0", "198.51.100.1", 1), ("eth0", "2001:db8::2", 2)])
    message = refused(load_config(path))
    assert message.startswith(f"{path}: group[2].source: 2001:db8::2 is not allowed (an address")


def test_one_address_dump_per_interface(tmp_path: pathlib.Path) -> None:
    layout = [("eth0", "198.51.100.1", v) for v in range(1, 101)]
    layout += [("eth1", "203.0.113.1", v) for v in range(1, 101)]
    host = HostAddresses({"eth0": ["198.51.100.1/24"], "eth1": ["203.0.113.1/24"]})
    check_host(load_config(write_groups(tmp_path, layout)), host)
    assert host.dumps == ["eth0", "eth1"]
