"""``--config FILE``: many groups on many interfaces in one process, as TOML.

::

    [daemon]
    debug = false
    facility = "daemon"        # optional: log to syslog
    control = "/run/pycarp/NAME.sock"  # optional (default: NAME is this file's stem); "off"
    control_group = "pycarp"   # optional: this group may use the control socket too
    state_dir = "/var/lib/pycarp"      # optional: maintenance mode survives restarts; "off"
    events = "/var/log/pycarp/events.jsonl"  # optional: every event as a JSON line ("-": stdout)
    metrics = "127.0.0.1:9812"         # optional: Prometheus exporter

    [[group]]
    interface = "eth0"
    source = "198.51.100.1"
    vhid = 1
    passfile = "/etc/pycarp/secret"   # or pass_env = "VAR", passphrase = "...", key_hex = "..."
    addresses = ["198.51.100.100/24", "2001:db8::100/64"]
    advbase = 1
    advskew = 0                       # advbase 0: sub-second, every advskew/256 s (OpenBSD)
    preempt = false
    demote_on_wire = "advskew"        # or "byte": demotion in OpenBSD's demote byte

    [[group]]                          # VRRPv3 (RFC 9568): no authentication at all
    protocol = "vrrp3"
    interface = "eth0"
    source = "198.51.100.1"
    vhid = 2                           # the VRID
    addresses = ["198.51.100.200/24"]  # one family per group
    priority = 150                     # 1-254; 255 = the address owner (default 100)
    interval = 0.1                     # seconds, 0.01-40.95 (default 1)
    preempt = true                     # the default for VRRPv3
    preempt_delay = 0                  # seconds after start before preempting
    vrrp_checksum = "pseudo-header"    # IPv4: or "rfc9568" (keepalived v3_checksum_as_v2)

    [[track]]                          # optional: health tracks (config/tracks.py)
    name = "web"
    script = ["/usr/lib/nagios/plugins/check_http", "-H", "127.0.0.1"]
    weight = 50

Keys of a group are the fields of :class:`~pycarp.config.build.RawGroup`; errors name them as
``group[N].key`` (N counted from 1, in file order). Values have their TOML type and are never
converted: strings quoted, numbers not (``vhid = "1"`` is refused), flags ``true``/``false``,
``addresses`` and ``notify`` arrays of strings (or one string).
"""

from __future__ import annotations

import dataclasses
import functools
import pathlib
import tomllib
from collections.abc import Callable

from pycarp.config.build import RawGroup, build_group
from pycarp.config.facility import parse_facility
from pycarp.config.model import ConfigError, DaemonConfig, GroupConfig, shown
from pycarp.config.operate import Operate, resolve
from pycarp.config.tracks import TrackConfig, build_track, check_tracks
from pycarp.core.settings import SETTING_RANGES

_GROUP_KEYS = {f.name for f in dataclasses.fields(RawGroup)}
_DAEMON_KEYS = {"debug", "facility", *(f.name for f in dataclasses.fields(Operate))}
# Numbers are TOML numbers. A quoted "12" is refused rather than converted: the front end for
# command lines takes digits as text, a file has a type for numbers and says what it means.
_NUMBER_KEYS = (_GROUP_KEYS & set(SETTING_RANGES)) | {"script_timeout"}
# CARP's timing and key mean nothing in a VRRPv3 group: written there, they are a mistake.
_CARP_ONLY = ("advbase", "advskew", "dead_ratio", "signature_mode")


def load_config(path: pathlib.Path) -> DaemonConfig:
    """Read and validate ``path``: linear in the number of groups (10,000 in well under 1 s)."""
    loaded, written = load_config_and_options(path)
    return dataclasses.replace(loaded, **resolve(written, loaded.instance, _operate_names(path)))


def load_config_and_options(path: pathlib.Path) -> tuple[DaemonConfig, Operate]:
    """The configuration without its operating options, and those options as written (so the
    command line can override them before defaults apply)."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError("--config", str(path), f"a readable file ({error.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(str(path), "not valid TOML", str(error)) from None
    unknown = set(document) - {"daemon", "group", "track"}
    if unknown:
        raise ConfigError(
            f"{path}", ", ".join(sorted(unknown)), "sections [daemon], [[group]] and [[track]]"
        )
    daemon = document.get("daemon", {})
    if not isinstance(daemon, dict) or set(daemon) - _DAEMON_KEYS:
        raise ConfigError(f"{path}: [daemon]", daemon, "keys " + ", ".join(sorted(_DAEMON_KEYS)))
    groups = document.get("group", [])
    if not isinstance(groups, list) or not groups:
        raise ConfigError(f"{path}", "no [[group]]", "at least one [[group]] table")
    built: list[GroupConfig] = []
    first_with: dict[tuple[str, int], int] = {}  # (interface, vhid) -> N of its group[N]
    passfiles: dict[str, bytes] = {}  # each passfile is read once per load
    for number, table in enumerate(groups, start=1):
        prefix = f"{path}: group[{number}]"
        group = _group(prefix, table, passfiles)
        first = first_with.setdefault(group.key, number)
        if first != number:
            raise ConfigError(
                f"{prefix}.vhid",
                f"{group.settings.vhid} on {group.interface} again",
                f"one group per vhid and interface: group[{first}] has it",
            )
        built.append(group)
    facility = parse_facility(f"{path}: [daemon].facility", daemon.get("facility"))
    debug = daemon.get("debug", False)
    if not isinstance(debug, bool):
        raise ConfigError(f"{path}: [daemon].debug", debug, "true or false")
    written = {}
    for key in (f.name for f in dataclasses.fields(Operate)):
        value = daemon.get(key)
        if value is not None and not isinstance(value, str):
            raise ConfigError(f"{path}: [daemon].{key}", value, "a string")
        written[key] = value
    options = Operate(**written)
    resolve(options, path.stem, _operate_names(path))  # errors name the file's keys
    tracks = _tracks(path, document.get("track", []), set(first_with))
    config = DaemonConfig(
        groups=tuple(built), debug=debug, facility=facility, config_path=path, tracks=tracks
    )
    return config, options


def _operate_names(path: pathlib.Path) -> dict[str, str]:
    return {f.name: f"{path}: [daemon].{f.name}" for f in dataclasses.fields(Operate)}


def _tracks(
    path: pathlib.Path, tables: object, groups: set[tuple[str, int]]
) -> tuple[TrackConfig, ...]:
    """Every ``[[track]]`` table, then what concerns them all (unique names, known groups)."""
    if not isinstance(tables, list):
        raise ConfigError(f"{path}: track", tables, "[[track]] tables")

    def name_of(number: int, key: str) -> str:
        return f"{path}: track[{number}].{key}"

    built = []
    for number, table in enumerate(tables, start=1):
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: track[{number}]", table, "a table")
        built.append(build_track(table, functools.partial(name_of, number)))
    check_tracks(built, groups, name_of)
    return tuple(built)


def _group(prefix: str, table: object, passfiles: dict[str, bytes]) -> GroupConfig:
    """One ``[[group]]`` table: its keys and TOML types, then the shared builder's checks."""
    if not isinstance(table, dict):
        raise ConfigError(prefix, table, "a table")
    extra = set(table) - _GROUP_KEYS
    if extra:
        raise ConfigError(
            f"{prefix}.{shown(sorted(extra)[0])}",
            "unknown key",
            "keys " + ", ".join(sorted(_GROUP_KEYS)),
        )
    for key in _NUMBER_KEYS & set(table):
        if isinstance(table[key], str):
            raise ConfigError(f"{prefix}.{key}", table[key], "a number, written without quotes")
    if table.get("protocol") == "vrrp3":
        carp_key = next((k for k in _CARP_ONLY if k in table), None)
        if carp_key is not None:
            raise ConfigError(
                f"{prefix}.{carp_key}",
                table[carp_key],
                "CARP only: a VRRPv3 group has priority and interval",
            )
    addresses = table.get("addresses", [])
    if isinstance(addresses, str):
        addresses = [addresses]
    if not isinstance(addresses, list):
        raise ConfigError(f"{prefix}.addresses", addresses, "a list of addresses")
    raw = RawGroup(**{**table, "addresses": addresses})
    return build_group(raw, _namer(prefix), passfiles)


def _namer(prefix: str) -> Callable[[str], str]:
    def name(field: str) -> str:
        return f"{prefix}.{field}"

    return name
