"""Addresses that cannot work are refused at start, not discovered by a failing send.

The source is the host's own unicast address; the destination (``--peer``, ``--mcast``,
``--nomcast``, TOML ``destination``) is sent to by the source's socket, so it must be of the
same family. The virtual addresses may mix families (kernel groups do): they are left alone.
"""

from __future__ import annotations

import ipaddress
import pathlib

import pytest

from pycarp.config.build import PASS_ENV
from pycarp.config.flags import build_parser, config_from_args
from pycarp.config.model import ConfigError, DaemonConfig
from pycarp.config.toml import load_config


@pytest.fixture(autouse=True)
def pass_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASS_ENV, "secret")


def parse(*argv: str) -> DaemonConfig:
    return config_from_args(build_parser().parse_args(list(argv)))


def flags(source: str = "198.51.100.1", *extra: str) -> list[str]:
    return ["-i", "eth0", "-s", source, "-v", "1", "-a", "198.51.100.100/24", *extra]


def error(argv: list[str]) -> ConfigError:
    with pytest.raises(ConfigError) as raised:
        parse(*argv)
    assert "\n" not in str(raised.value)
    return raised.value


FAMILY_MISMATCH = [
    (flags("198.51.100.1", "--peer", "2001:db8::2"), "--peer", "an IPv4 address"),
    (flags("2001:db8::1", "--peer", "198.51.100.2"), "--peer", "an IPv6 address"),
    (flags("2001:db8::1", "--nomcast"), "--nomcast", "an IPv6 address"),
    (flags("2001:db8::1", "--mcast", "224.0.0.18"), "--mcast", "an IPv6 address"),
]


@pytest.mark.parametrize(("argv", "option", "allowed"), FAMILY_MISMATCH, ids=str)
def test_the_destination_must_be_of_the_source_family(
    argv: list[str], option: str, allowed: str
) -> None:
    raised = error(argv)
    assert raised.field == option
    assert f"({allowed}, like the source " in str(raised)


def test_a_toml_destination_of_the_other_family(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        '[[group]]\ninterface = "eth0"\nsource = "2001:db8::1"\nvhid = 1\npassphrase = "p"\n'
        'addresses = ["2001:db8::100/64"]\ndestination = "198.51.100.2"\n'
    )
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert str(raised.value) == (
        f"{path}: group[1].destination: 198.51.100.2 is not allowed "
        "(an IPv6 address, like the source 2001:db8::1)"
    )


@pytest.mark.parametrize(
    "destination", ["0.0.0.0", "127.0.0.1", "198.51.100.1"], ids=["any", "loopback", "source"]
)
def test_a_destination_that_reaches_nobody(destination: str) -> None:
    raised = error(flags("198.51.100.1", "--peer", destination))
    assert raised.field == "--peer"
    assert "a peer's address" in raised.allowed


# ::ffff:c633:6401 is 198.51.100.1, IPv4-mapped: not an address an IPv6 socket can send from.
NOT_A_SOURCE = ["224.0.0.1", "0.0.0.0", "255.255.255.255", "127.0.0.1", "::", "::1", "ff02::1"]
NOT_A_SOURCE.append("::ffff:c633:6401")


@pytest.mark.parametrize("source", NOT_A_SOURCE)
def test_a_source_that_cannot_be_this_hosts_address(source: str) -> None:
    raised = error(flags(source))
    assert raised.field == "--srcip"
    assert str(raised) == (
        f"--srcip: {source} is not allowed (this host's own unicast address on the interface)"
    )


@pytest.mark.parametrize("written", ["fe80::1%eth0", "198.51.100.1%0", " 198.51.100.1"])
def test_a_source_is_an_address_as_written_without_zone(written: str) -> None:
    assert error(flags(written)).field == "--srcip"


def test_an_ipv6_link_local_source_and_mixed_virtual_addresses_are_fine() -> None:
    argv = ["-i", "eth0", "-s", "fe80::1", "-v", "1"]
    argv += ["-a", "2001:db8::100/64", "-a", "198.51.100.100/24", "--peer", "fe80::2"]
    (group,) = parse(*argv).groups
    assert group.settings.source == ipaddress.ip_address("fe80::1")
    assert group.destination == ipaddress.ip_address("fe80::2")
    assert not group.settings.multicast


def test_same_family_destinations_are_fine() -> None:
    (peer,) = parse(*flags("198.51.100.1", "--peer", "198.51.100.2")).groups
    assert not peer.settings.multicast
    (broadcast,) = parse(*flags("198.51.100.1", "--nomcast")).groups
    assert broadcast.destination == ipaddress.ip_address("255.255.255.255")
    (group,) = parse(*flags("2001:db8::1", "--peer", "ff02::12")).groups
    assert group.settings.multicast
