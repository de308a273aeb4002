"""Health tracks in the configuration: ``[[track]]`` tables and ``--track-*`` flags.

Every mistake is one ConfigError naming the key as the user wrote it (``FILE: track[N].key``
or ``--track-...``) and what is allowed.
"""

from __future__ import annotations

import pathlib

import pytest

from pycarp.config.build import PASS_ENV
from pycarp.config.flags import build_parser, config_from_args
from pycarp.config.model import ConfigError, DaemonConfig, GroupConfig
from pycarp.config.toml import load_config
from pycarp.config.tracks import TrackConfig, TrackKind

GROUPS = """\
[[group]]
interface = "eth0"
source = "198.51.100.1"
vhid = 1
passphrase = "p"
addresses = ["198.51.100.100/24"]

[[group]]
interface = "eth0"
source = "198.51.100.1"
vhid = 2
passphrase = "p"
addresses = ["198.51.100.101/24"]
"""

WEB = """
[[track]]
name = "web"
script = ["/usr/bin/curl", "-fsS", "-m", "1", "http://127.0.0.1/health"]
interval = 0.5
timeout = 0.4
fall = 3
rise = 4
weight = 50
groups = ["1@eth0", "2@eth0"]
"""


@pytest.fixture(autouse=True)
def no_pass_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PASS_ENV, raising=False)


def load(tmp_path: pathlib.Path, tracks: str) -> DaemonConfig:
    path = tmp_path / "groups.toml"
    path.write_text(GROUPS + tracks)
    return load_config(path)


def refused(tmp_path: pathlib.Path, tracks: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, tracks)
    return caught.value


def test_a_script_track_and_its_values(tmp_path: pathlib.Path) -> None:
    (track,) = load(tmp_path, WEB).tracks
    assert track == TrackConfig(
        name="web",
        kind=TrackKind.SCRIPT,
        script=("/usr/bin/curl", "-fsS", "-m", "1", "http://127.0.0.1/health"),
        interval=0.5,
        timeout=0.4,
        fall=3,
        rise=4,
        weight=50,
        groups=(("eth0", 1), ("eth0", 2)),
    )
    spec = track.spec()
    assert (spec.weight, spec.fall, spec.rise) == (50, 3, 4)
    assert spec.groups == frozenset({("eth0", 1), ("eth0", 2)})


def test_defaults_interface_and_file_tracks(tmp_path: pathlib.Path) -> None:
    tracks = load(
        tmp_path,
        '[[track]]\nname = "uplink"\ninterface = "eth1"\n'
        '[[track]]\nname = "app.weight"\nfile = "/run/app/weight"\nweight = "fault"\n'
        'groups = "2@eth0"\n',
    ).tracks
    uplink, weight = tracks
    assert (uplink.kind, uplink.interface, uplink.interval, uplink.timeout) == (
        TrackKind.INTERFACE,
        "eth1",
        1.0,
        1.0,
    )
    assert (uplink.fall, uplink.rise, uplink.weight, uplink.groups) == (2, 2, None, None)
    assert uplink.mode == "fault"
    assert (weight.kind, weight.file, weight.groups) == (
        TrackKind.FILE,
        pathlib.Path("/run/app/weight"),
        (("eth0", 2),),
    )
    assert uplink.spec().fault


@pytest.mark.parametrize(
    ("line", "key", "allowed"),
    [
        ('interval = "1"', "interval", "a number, written without quotes"),
        ("interval = 0.05", "interval", "seconds from 0.1 to 3600"),
        ("interval = 3601", "interval", "seconds from 0.1 to 3600"),
        ("interval = nan", "interval", "seconds from 0.1 to 3600"),
        ("timeout = 2.0", "timeout", "seconds from 0.1 to the interval (1)"),
        ("timeout = 0", "timeout", "seconds from 0.1 to 3600"),
        ("fall = 0", "fall", "an integer from 1 to 100"),
        ("fall = 101", "fall", "an integer from 1 to 100"),
        ("fall = 1.5", "fall", "an integer from 1 to 100"),
        ("rise = true", "rise", "an integer from 1 to 100"),
        ("rise = 0", "rise", "an integer from 1 to 100"),
        ("weight = 0", "weight", 'an integer from 1 to 240, or "fault"'),
        ("weight = 241", "weight", 'an integer from 1 to 240, or "fault"'),
        ('weight = "FAULT"', "weight", 'an integer from 1 to 240, or "fault"'),
        ("weight = true", "weight", 'an integer from 1 to 240, or "fault"'),
        ("groups = []", "groups", "a non-empty list of groups"),
        ('groups = ["1"]', "groups", "a non-empty list of groups"),
        ('groups = ["256@eth0"]', "groups", "a non-empty list of groups"),
        ('groups = ["1@eth0", "1@eth0"]', "groups", "each group once"),
        ('groups = ["3@eth0"]', "groups", "one of the groups: 1@eth0, 2@eth0"),
        ('groups = ["1@eth9"]', "groups", "one of the groups"),
        ("colour = 1", "colour", "keys fall, file, groups"),
    ],
)
def test_every_bad_value_names_track_n_key(
    tmp_path: pathlib.Path, line: str, key: str, allowed: str
) -> None:
    error = refused(tmp_path, f'[[track]]\nname = "ok"\ninterface = "eth1"\n{line}\n')
    assert error.field == f"{tmp_path / 'groups.toml'}: track[1].{key}"
    assert allowed in error.allowed
    assert "\n" not in str(error)


@pytest.mark.parametrize(
    ("body", "key", "allowed"),
    [
        ('script = ["/bin/true"]', "name", "1-32 letters"),
        ('name = ""\nscript = ["/bin/true"]', "name", "1-32 letters"),
        ('name = "a b"\nscript = ["/bin/true"]', "name", "1-32 letters"),
        (f'name = "{"x" * 33}"\nscript = ["/bin/true"]', "name", "1-32 letters"),
        ('name = "x"', "script", "exactly one of script, interface, file"),
        ('name = "x"\nscript = ["/bin/true"]\nfile = "/f"', "script", "exactly one of"),
        ('name = "x"\nscript = "/bin/true -x"', "script", "a list of strings"),
        ('name = "x"\nscript = []', "script", "a list of strings"),
        ('name = "x"\nscript = [""]', "script", "a list of strings"),
        ('name = "x"\nscript = ["/bin/true", 1]', "script", "a list of strings"),
        ('name = "x"\ninterface = "a/b"', "interface", "an interface name"),
        ('name = "x"\ninterface = "sixteen-chars-xx"', "interface", "an interface name"),
        ('name = "x"\ninterface = 3', "interface", "an interface name"),
        ('name = "x"\nfile = "run/weight"', "file", "an absolute file name"),
        ('name = "x"\nfile = ["/a"]', "file", "an absolute file name"),
    ],
)
def test_every_bad_source_names_its_key(
    tmp_path: pathlib.Path, body: str, key: str, allowed: str
) -> None:
    error = refused(tmp_path, f"[[track]]\n{body}\n")
    assert error.field.endswith(f"track[1].{key}")
    assert allowed in error.allowed


def test_names_are_unique_and_a_track_must_be_a_table(tmp_path: pathlib.Path) -> None:
    error = refused(tmp_path, WEB + WEB)
    assert error.field.endswith("track[2].name")
    assert error.allowed == "a name of its own: track[1] has it"
    path = tmp_path / "top.toml"
    path.write_text('track = "web"\n' + GROUPS)
    with pytest.raises(ConfigError, match=r"top.toml: track: web is not allowed \(\[\[track\]\]"):
        load_config(path)


def test_a_daemon_config_built_in_code_is_checked_too() -> None:
    group = load_config_groups()
    track = TrackConfig(name="a", kind=TrackKind.INTERFACE, interface="eth1", groups=(("x", 1),))
    with pytest.raises(ConfigError, match=r"track\[1\]\.groups"):
        DaemonConfig(groups=group, tracks=(track,))


def load_config_groups() -> tuple[GroupConfig, ...]:
    args = ["-i", "eth0", "-s", "198.51.100.1", "-v", "1", "-p", "p", "-a", "198.51.100.100"]
    return config_from_args(build_parser().parse_args(args)).groups


# -- flags -------------------------------------------------------------------------------------

BASE = ["-i", "eth0", "-s", "198.51.100.1", "-v", "1", "-p", "p", "-a", "198.51.100.100"]


def parse(*extra: str) -> DaemonConfig:
    return config_from_args(build_parser().parse_args([*BASE, *extra]))


def test_track_script_flag_is_split_like_a_shell_and_run_without_one() -> None:
    config = parse(
        "--track-script",
        "/usr/bin/curl -fsS 'http://127.0.0.1/a b'",
        "--track-interval",
        "0.5",
        "--track-timeout",
        "0.25",
        "--track-fall",
        "3",
        "--track-rise",
        "5",
        "--track-weight",
        "70",
    )
    (track,) = config.tracks
    assert track.name == "check"
    assert track.script == ("/usr/bin/curl", "-fsS", "http://127.0.0.1/a b")
    assert (track.interval, track.timeout, track.fall, track.rise, track.weight) == (
        0.5,
        0.25,
        3,
        5,
        70,
    )
    assert track.groups is None
    assert parse("--track-script", "/bin/true", "--track-weight", "fault").tracks[0].weight is None
    assert parse().tracks == ()


@pytest.mark.parametrize(
    ("extra", "field", "allowed"),
    [
        (["--track-fall", "2"], "--track-fall", "only together with --track-script"),
        (["--track-weight", "9"], "--track-weight", "only together with --track-script"),
        (["--track-script", "'unclosed"], "--track-script", "a command line"),
        (["--track-script", ""], "--track-script", "a list of strings"),
        (["--track-script", "x", "--track-interval", "1e3"], "--track-interval", "seconds"),
        (["--track-script", "x", "--track-interval", "0"], "--track-interval", "seconds"),
        (["--track-script", "x", "--track-timeout", "5"], "--track-timeout", "the interval"),
        (["--track-script", "x", "--track-fall", "-1"], "--track-fall", "1 to 100"),
        (["--track-script", "x", "--track-rise", "x"], "--track-rise", "1 to 100"),
        (["--track-script", "x", "--track-weight", "241"], "--track-weight", "1 to 240"),
        (["--track-script", "x", "--track-weight", "hand"], "--track-weight", '"fault"'),
    ],
)
def test_every_bad_flag_names_the_flag(extra: list[str], field: str, allowed: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(*extra)
    assert caught.value.field == field
    assert allowed in caught.value.allowed


def test_track_flags_are_refused_with_config(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "groups.toml"
    path.write_text(GROUPS)
    with pytest.raises(ConfigError) as caught:
        config_from_args(build_parser().parse_args(["--config", str(path), "--track-rise", "2"]))
    assert caught.value.field == "--track-rise"
    assert "[[track]] tables in the --config file" in caught.value.allowed


def test_tracks_of_a_file_reach_the_daemon_config_through_the_flags(
    tmp_path: pathlib.Path,
) -> None:
    path = tmp_path / "groups.toml"
    path.write_text(GROUPS + WEB)
    config = config_from_args(build_parser().parse_args(["--config", str(path)]))
    assert [t.name for t in config.tracks] == ["web"]
