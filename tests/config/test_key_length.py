"""What counts of a passphrase, and the raw key (issue 10, item 1).

FreeBSD's and OpenBSD's ``ifconfig ... pass`` keep the first 19 bytes of a passphrase (strlcpy
into the 20-byte key), and ucarp refuses 20 bytes or more: a group whose passphrase is longer
signs with those 19 bytes only. A raw key of up to 20 bytes (netlink, ioctl) is ``key_hex``.
"""

from __future__ import annotations

import ipaddress
import pathlib

import pytest

from pycarp.config.build import PASS_ENV
from pycarp.config.flags import build_parser, config_from_args
from pycarp.config.model import ConfigError, DaemonConfig, GroupConfig
from pycarp.config.toml import load_config
from pycarp.core.auth import Signer

BASE = ["-i", "eth0", "-s", "198.51.100.1", "-v", "7", "-a", "198.51.100.100/24"]
NINETEEN = "nineteen-bytes-long"  # exactly the bytes BSD ifconfig keeps
# The independent (Rust) implementation's vector: a raw 20-byte key, as netlink sets it.
RUST_KEY_HEX = "0102030405060708090a0b0c0d0e0f1011121314"
RUST_ADDRESSES = [ipaddress.ip_address(a) for a in ("192.0.2.10", "10.0.0.9", "10.0.0.1")]
RUST_DIGEST = "9c40a9b81097cdc55868afcef20fdb5415c55709"


def parse(argv: list[str]) -> DaemonConfig:
    return config_from_args(build_parser().parse_args([*BASE, *argv]))


def only(config: DaemonConfig) -> GroupConfig:
    (group,) = config.groups
    return group


@pytest.fixture(autouse=True)
def no_pass_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PASS_ENV, raising=False)


@pytest.mark.parametrize("extra", ["X", "-and-much-more-than-twenty-bytes"])
def test_a_long_passphrase_keys_with_its_first_19_bytes_and_is_flagged(extra: str) -> None:
    group = only(parse(["-p", NINETEEN + extra]))
    assert group.settings.passphrase == NINETEEN.encode()
    assert group.passphrase_cut
    assert group.passphrase_length == len(NINETEEN + extra)
    assert group.hidden_secret == (NINETEEN + extra).encode()  # what hooks must never see


def test_a_passphrase_of_19_bytes_or_less_is_used_whole_and_not_flagged() -> None:
    for passphrase in (NINETEEN, "short"):
        group = only(parse(["-p", passphrase]))
        assert group.settings.passphrase == passphrase.encode()
        assert not group.passphrase_cut


def test_two_passphrases_that_differ_after_byte_19_make_the_same_key(
    tmp_path: pathlib.Path,
) -> None:
    passfile = tmp_path / "pass"
    passfile.write_bytes(NINETEEN.encode() + b"-from-a-file\n")
    from_file = only(parse(["-o", str(passfile)])).settings.passphrase
    from_flag = only(parse(["-p", NINETEEN + "-typed"])).settings.passphrase
    assert from_file == from_flag == NINETEEN.encode()


def test_key_hex_is_the_raw_key_and_signs_the_independent_vector() -> None:
    for written in (
        RUST_KEY_HEX,
        "0x" + RUST_KEY_HEX.upper(),
        RUST_KEY_HEX[:8] + " 05:06" + RUST_KEY_HEX[12:],
    ):
        group = only(parse(["--key-hex", written]))
        assert group.settings.passphrase == bytes(range(1, 21))
        assert not group.passphrase_cut
    signer = Signer(group.settings.passphrase, 7, RUST_ADDRESSES)
    assert signer.sign(bytes(range(8))).hex() == RUST_DIGEST


def test_key_hex_in_a_file(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "k.toml"
    path.write_text(
        '[[group]]\ninterface = "eth0"\nsource = "198.51.100.1"\nvhid = 7\n'
        f'key_hex = "{RUST_KEY_HEX}"\naddresses = ["198.51.100.100/24"]\n'
    )
    assert only(load_config(path)).settings.passphrase == bytes(range(1, 21))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["-p", "x", "--key-hex", "0102"],
            "--key-hex: given too is not allowed (only one of --pass, --key-hex)",
        ),
        (
            ["--key-hex", RUST_KEY_HEX + "15"],
            "--key-hex: <21 bytes> is not allowed (1 to 20 bytes as hex digits (2 to 40 digits))",
        ),
    ],
)
def test_key_hex_mistakes_are_one_line_naming_the_fields(argv: list[str], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse(argv)
    assert str(raised.value) == message
    assert RUST_KEY_HEX not in str(raised.value)


def test_hooks_never_see_a_long_passphrase_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hooks' environments drop every variable holding a secret: the secret as given, all of
    it, not only the 19 bytes that sign (a copy of the whole passphrase would give it away)."""
    from pycarp.runtime.hooks import hook_environment

    long = NINETEEN + "-and-the-rest"
    monkeypatch.setenv("GROUP_SECRET", long)
    monkeypatch.setenv("A_COPY", long)
    group = only(built_with_pass_env("GROUP_SECRET"))
    environment = hook_environment({}, [group.hidden_secret])
    assert "GROUP_SECRET" not in environment
    assert "A_COPY" not in environment
    assert long not in environment.values()


def built_with_pass_env(variable: str) -> DaemonConfig:
    """A group whose passphrase is read from ``variable`` (TOML's ``pass_env``)."""
    from pycarp.config.build import RawGroup, build_group

    raw = RawGroup(
        interface="eth0",
        source="198.51.100.1",
        vhid=7,
        pass_env=variable,
        addresses=["198.51.100.100/24"],
    )
    return DaemonConfig(groups=(build_group(raw, lambda field: field),))
