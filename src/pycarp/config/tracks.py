"""Health tracks in the configuration: ``[[track]]`` tables and the ``--track-*`` flags.

::

    [[track]]
    name = "web"
    script = ["/usr/bin/curl", "-fsS", "-m", "1", "http://127.0.0.1/health"]  # argv, no shell
    interval = 1.0     # seconds between checks
    timeout = 1.0      # a check still running after this is killed: a failure (<= interval)
    fall = 2           # failures in a row before "down"
    rise = 2           # successes in a row before "up" again
    weight = 50        # demotion while down, 1..240; "fault" (the default): hand over, stay out
    groups = ["1@eth0"]    # vhid@interface; default: every group of the daemon

``interface = "eth1"`` (up while it has carrier and its operational state is up) or
``file = "/run/app/weight"`` (an integer: the demotion to apply, 0..240) instead of ``script``.

Values keep their TOML type (numbers unquoted), as for ``[[group]]``; errors name the key as
``FILE: track[N].key``. A timeout longer than the interval is refused: a track then never has
two checks running, and a hanging check cannot pile up processes.
"""

from __future__ import annotations

import dataclasses
import enum
import pathlib
import re
import shlex
from collections.abc import Callable, Mapping, Sequence

from pycarp.config.model import ConfigError, parse_int, parse_seconds
from pycarp.core.track import MAX_HYSTERESIS, MAX_TRACK_WEIGHT, GroupKey, TrackSpec

MIN_INTERVAL = 0.1
MAX_INTERVAL = 3600.0
DEFAULT_INTERVAL = 1.0
DEFAULT_FALL = 2
DEFAULT_RISE = 2
CLI_TRACK_NAME = "check"  # the one track of --track-script
FAULT = "fault"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}")  # also a metric label and a log word
_GROUP = re.compile(r"([0-9]{1,3})@(\S{1,15})")
_IFNAME = re.compile(r"[^\s/:]{1,15}")
TRACK_KEYS = frozenset(
    {"name", "script", "interface", "file", "interval", "timeout", "fall", "rise", "weight"}
    | {"groups"}
)
_NAME_ALLOWED = "1-32 letters, digits, '_', '.', '-', starting with a letter or digit"


class TrackKind(enum.Enum):
    SCRIPT = "script"
    INTERFACE = "interface"
    FILE = "file"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class TrackConfig:
    """One validated track. ``weight`` None means *fault*; ``groups`` None: every group."""

    name: str
    kind: TrackKind
    script: tuple[str, ...] = ()
    interface: str | None = None
    file: pathlib.Path | None = None
    interval: float = DEFAULT_INTERVAL
    timeout: float = DEFAULT_INTERVAL
    fall: int = DEFAULT_FALL
    rise: int = DEFAULT_RISE
    weight: int | None = None
    groups: tuple[GroupKey, ...] | None = None

    @property
    def target(self) -> str:
        """What is checked, for people: the command line, the interface or the file."""
        if self.kind is TrackKind.SCRIPT:
            return shlex.join(self.script)
        return str(self.interface if self.kind is TrackKind.INTERFACE else self.file)

    @property
    def mode(self) -> str:
        return FAULT if self.weight is None else f"weight {self.weight}"

    def spec(self) -> TrackSpec:
        return TrackSpec(
            name=self.name,
            weight=self.weight,
            fall=self.fall,
            rise=self.rise,
            groups=None if self.groups is None else frozenset(self.groups),
        )


Namer = Callable[[str], str]


def build_track(
    table: Mapping[str, object], name_of: Namer, *, numbers_as_text: bool = False
) -> TrackConfig:
    """Validate one track's keys: TOML types (strings, numbers, arrays; no conversion), or,
    with ``numbers_as_text``, numbers written as digits, as on a command line."""
    extra = set(table) - TRACK_KEYS
    if extra:
        first = sorted(extra)[0]
        raise ConfigError(name_of(first), "unknown key", "keys " + ", ".join(sorted(TRACK_KEYS)))
    name = table.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ConfigError(name_of("name"), name, _NAME_ALLOWED)
    given = [key for key in ("script", "interface", "file") if key in table]
    if len(given) != 1:
        raise ConfigError(
            name_of("script"),
            " and ".join(given) or "none",
            "exactly one of script, interface, file",
        )
    kind = TrackKind(given[0])
    for key in ("interval", "timeout", "fall", "rise"):
        if isinstance(table.get(key), str) and not numbers_as_text:
            raise ConfigError(name_of(key), table[key], "a number, written without quotes")
    interval = parse_seconds(
        name_of("interval"), table.get("interval", DEFAULT_INTERVAL), MIN_INTERVAL, MAX_INTERVAL
    )
    timeout = parse_seconds(name_of("timeout"), table.get("timeout", interval), 0.1, MAX_INTERVAL)
    if timeout > interval:
        raise ConfigError(
            name_of("timeout"), table["timeout"], f"seconds from 0.1 to the interval ({interval:g})"
        )
    fall = parse_int(name_of("fall"), table.get("fall", DEFAULT_FALL), 1, MAX_HYSTERESIS)
    rise = parse_int(name_of("rise"), table.get("rise", DEFAULT_RISE), 1, MAX_HYSTERESIS)
    return TrackConfig(
        name=name,
        kind=kind,
        script=_script(name_of("script"), table["script"]) if kind is TrackKind.SCRIPT else (),
        interface=_interface(name_of("interface"), table["interface"])
        if kind is TrackKind.INTERFACE
        else None,
        file=_file(name_of("file"), table["file"]) if kind is TrackKind.FILE else None,
        interval=interval,
        timeout=timeout,
        fall=fall,
        rise=rise,
        weight=parse_weight(name_of("weight"), table.get("weight", FAULT)),
        groups=_groups(name_of("groups"), table["groups"]) if "groups" in table else None,
    )


def parse_weight(field: str, value: object) -> int | None:
    """1..240, or the word ``fault`` (None). On a command line the digits come as text."""
    if value == FAULT:
        return None
    allowed = f'an integer from 1 to {MAX_TRACK_WEIGHT}, or "{FAULT}"'
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ConfigError(field, value, allowed)
    try:
        return parse_int(field, value, 1, MAX_TRACK_WEIGHT)
    except ConfigError:
        raise ConfigError(field, value, allowed) from None


def _script(field: str, value: object) -> tuple[str, ...]:
    allowed = 'a list of strings: the program and its arguments (no shell), e.g. ["/bin/check"]'
    if not isinstance(value, list) or not value or not all(isinstance(a, str) for a in value):
        raise ConfigError(field, value, allowed)
    if not value[0] or any("\0" in arg for arg in value):
        raise ConfigError(field, value, allowed + ", no NUL byte")
    return tuple(value)


TRACK_FLAGS = {
    "script": "--track-script",
    "interval": "--track-interval",
    "timeout": "--track-timeout",
    "fall": "--track-fall",
    "rise": "--track-rise",
    "weight": "--track-weight",
}


def track_from_flags(given: Mapping[str, str | None]) -> TrackConfig | None:
    """The one track of a command line (``--track-script CMD`` and its companions), if any.

    ``CMD`` is split as a shell would split it (quotes), and run without a shell. The track
    is named ``check`` and covers the command line's one group.
    """
    used = {key: value for key, value in given.items() if value is not None}
    if "script" not in used:
        if used:
            flag = TRACK_FLAGS[sorted(used)[0]]
            raise ConfigError(flag, used[sorted(used)[0]], "only together with --track-script")
        return None
    text = used["script"]
    assert text is not None
    try:
        argv = shlex.split(text)
    except ValueError as error:
        raise ConfigError(TRACK_FLAGS["script"], text, f"a command line ({error})") from None
    table: dict[str, object] = {**used, "name": CLI_TRACK_NAME, "script": argv}
    return build_track(table, lambda key: TRACK_FLAGS.get(key, key), numbers_as_text=True)


def _interface(field: str, value: object) -> str:
    if not isinstance(value, str) or not _IFNAME.fullmatch(value) or value in (".", ".."):
        raise ConfigError(field, value, "an interface name (1-15 characters, no '/', ':' or space)")
    return value


def _file(field: str, value: object) -> pathlib.Path:
    if not isinstance(value, str) or not value.startswith("/") or "\0" in value:
        raise ConfigError(field, value, "an absolute file name")
    return pathlib.Path(value)


def _groups(field: str, value: object) -> tuple[GroupKey, ...]:
    allowed = 'a non-empty list of groups as "VHID@INTERFACE", e.g. ["1@eth0"]'
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise ConfigError(field, value, allowed)
    keys: list[GroupKey] = []
    for item in value:
        match = _GROUP.fullmatch(item) if isinstance(item, str) else None
        if match is None or not 1 <= int(match[1]) <= 255:
            raise ConfigError(field, item, allowed)
        key = (match[2], int(match[1]))
        if key in keys:
            raise ConfigError(field, item, "each group once")
        keys.append(key)
    return tuple(keys)


def check_tracks(
    tracks: Sequence[TrackConfig], groups: set[GroupKey], name_of: Callable[[int, str], str]
) -> None:
    """Across tracks: names are unique and every named group is one of the daemon's.

    ``name_of(N, key)`` spells track N's key as the user wrote it (``FILE: track[N].key``).
    """
    seen: dict[str, int] = {}
    for number, track in enumerate(tracks, start=1):
        first = seen.setdefault(track.name, number)
        if first != number:
            raise ConfigError(
                name_of(number, "name"), track.name, f"a name of its own: track[{first}] has it"
            )
        for key in track.groups or ():
            if key not in groups:
                listed = ", ".join(f"{v}@{i}" for i, v in sorted(groups))
                raise ConfigError(
                    name_of(number, "groups"), f"{key[1]}@{key[0]}", f"one of the groups: {listed}"
                )
