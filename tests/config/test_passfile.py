"""A passfile is a small regular file: a FIFO must not hang start-up, /dev/zero not eat memory."""

from __future__ import annotations

import os
import pathlib
import signal
import types
from collections.abc import Iterator

import pytest

from pycarp.config.flags import build_parser, config_from_args
from pycarp.config.model import PASSFILE_LIMIT, ConfigError
from pycarp.config.toml import load_config

FLAGS = ["-i", "eth0", "-s", "198.51.100.1", "-v", "1", "-a", "198.51.100.100"]


class Hung(Exception):
    """The passfile read blocked: the alarm went off."""


@pytest.fixture
def alarm() -> Iterator[None]:
    """Fail (rather than hang the suite) if reading a passfile blocks for 5 s."""

    def ring(signum: int, frame: types.FrameType | None) -> None:
        raise Hung

    previous = signal.signal(signal.SIGALRM, ring)
    signal.alarm(5)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def passfile_error(path: str) -> str:
    with pytest.raises(ConfigError) as raised:
        config_from_args(build_parser().parse_args([*FLAGS, "-o", path]))
    message = str(raised.value)
    assert "\n" not in message
    assert raised.value.field == "--passfile"
    return message


def test_a_fifo_is_refused_at_once(tmp_path: pathlib.Path, alarm: None) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    message = passfile_error(str(fifo))
    assert message.startswith("--passfile: /")
    assert message.endswith("/fifo is not allowed (a regular file, not a FIFO)")


def test_dev_zero_is_refused(alarm: None) -> None:
    message = passfile_error("/dev/zero")
    assert (
        message == "--passfile: /dev/zero is not allowed (a regular file, not a character device)"
    )


def test_a_directory_is_refused(tmp_path: pathlib.Path) -> None:
    assert passfile_error(str(tmp_path)).endswith("(a regular file, not a directory)")


def test_a_file_over_the_limit_is_refused(tmp_path: pathlib.Path) -> None:
    big = tmp_path / "big"
    big.write_bytes(b"secret\n" + b"#" * (PASSFILE_LIMIT - len(b"secret\n") + 1))
    assert big.stat().st_size == PASSFILE_LIMIT + 1
    message = passfile_error(str(big))
    assert message.endswith(f"(a file of at most {PASSFILE_LIMIT} bytes)")


def test_a_file_at_the_limit_is_read(tmp_path: pathlib.Path) -> None:
    full = tmp_path / "full"
    full.write_bytes(b"secret\n" + b"#" * (PASSFILE_LIMIT - len(b"secret\n")))
    config = config_from_args(build_parser().parse_args([*FLAGS, "-o", str(full)]))
    assert config.groups[0].settings.passphrase == b"secret"


def test_a_symlink_to_a_regular_file_is_fine(tmp_path: pathlib.Path) -> None:
    (tmp_path / "real").write_text("linked\n")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    config = config_from_args(build_parser().parse_args([*FLAGS, "-o", str(tmp_path / "link")]))
    assert config.groups[0].settings.passphrase == b"linked"


def test_toml_passfile_errors_name_the_key(tmp_path: pathlib.Path, alarm: None) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    path = tmp_path / "c.toml"
    group = (
        '[[group]]\ninterface = "eth0"\nsource = "198.51.100.1"\nvhid = 1\n'
        'addresses = ["198.51.100.100"]\n'
    )
    for passfile, expected in [
        (f'"{fifo}"', "group[1].passfile: "),
        ('"/dev/zero"', "group[1].passfile: /dev/zero is not allowed (a regular file"),
        ('"/etc/\\u0000x"', "group[1].passfile: '/etc/\\x00x' is not allowed (a file name)"),
    ]:
        path.write_text(group + f"passfile = {passfile}\n")
        with pytest.raises(ConfigError) as raised:
            load_config(path)
        assert str(raised.value).startswith(f"{path}: {expected}"), raised.value


def test_groups_sharing_a_passfile_all_get_it(tmp_path: pathlib.Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("shared\n")
    path = tmp_path / "c.toml"
    path.write_text(
        "".join(
            f'[[group]]\ninterface = "eth0"\nsource = "198.51.100.1"\nvhid = {vhid}\n'
            f'passfile = "{secret}"\naddresses = ["198.51.100.{100 + vhid}"]\n'
            for vhid in (1, 2, 3)
        )
    )
    assert {g.settings.passphrase for g in load_config(path).groups} == {b"shared"}
