"""``--config FILE``: many groups on many interfaces in one process, as TOML.

::

    [daemon]
    debug = false
    facility = "daemon"        # optional: log to syslog

    [[group]]
    interface = "eth0"
    source = "198.51.100.1"
    vhid = 1
    passfile = "/etc/pycarp/secret"   # or pass_env = "VAR", or passphrase = "..."
    addresses = ["198.51.100.100/24", "2001:db8::100/64"]
    advbase = 1
    advskew = 0
    preempt = false

Keys of a group are the fields of :class:`~pycarp.config.build.RawGroup`; errors name them as
``group[N].key`` (N counted from 1, in file order).
"""

from __future__ import annotations

import dataclasses
import pathlib
import tomllib
from collections.abc import Callable

from pycarp.config.build import RawGroup, build_group
from pycarp.config.flags import SYSLOG_FACILITIES
from pycarp.config.model import ConfigError, DaemonConfig, GroupConfig

_GROUP_KEYS = {f.name for f in dataclasses.fields(RawGroup)}
_DAEMON_KEYS = {"debug", "facility"}


def load_config(path: pathlib.Path) -> DaemonConfig:
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError("--config", str(path), f"a readable file ({error.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(str(path), "not valid TOML", str(error)) from None
    unknown = set(document) - {"daemon", "group"}
    if unknown:
        raise ConfigError(f"{path}", ", ".join(sorted(unknown)), "sections [daemon] and [[group]]")
    daemon = document.get("daemon", {})
    if not isinstance(daemon, dict) or set(daemon) - _DAEMON_KEYS:
        raise ConfigError(f"{path}: [daemon]", daemon, "keys " + ", ".join(sorted(_DAEMON_KEYS)))
    groups = document.get("group", [])
    if not isinstance(groups, list) or not groups:
        raise ConfigError(f"{path}", "no [[group]]", "at least one [[group]] table")
    built: list[GroupConfig] = []
    for number, table in enumerate(groups, start=1):
        prefix = f"{path}: group[{number}]"
        if not isinstance(table, dict):
            raise ConfigError(prefix, table, "a table")
        extra = set(table) - _GROUP_KEYS
        if extra:
            raise ConfigError(
                f"{prefix}.{sorted(extra)[0]}",
                "unknown key",
                "keys " + ", ".join(sorted(_GROUP_KEYS)),
            )
        addresses = table.get("addresses", [])
        if isinstance(addresses, str):
            addresses = [addresses]
        if not isinstance(addresses, list):
            raise ConfigError(f"{prefix}.addresses", addresses, "a list of addresses")
        raw = RawGroup(**{**table, "addresses": addresses})
        group = build_group(raw, _namer(prefix))
        if any(g.key == group.key for g in built):
            raise ConfigError(
                f"{prefix}.vhid",
                f"{group.settings.vhid} on {group.interface} again",
                "one group per vhid and interface",
            )
        built.append(group)
    facility = daemon.get("facility")
    if facility is not None and facility not in SYSLOG_FACILITIES:
        raise ConfigError(
            f"{path}: [daemon].facility", facility, "one of " + ", ".join(SYSLOG_FACILITIES)
        )
    debug = daemon.get("debug", False)
    if not isinstance(debug, bool):
        raise ConfigError(f"{path}: [daemon].debug", debug, "true or false")
    return DaemonConfig(
        groups=tuple(built),
        debug=debug,
        facility=facility,
        config_path=path,
    )


def _namer(prefix: str) -> Callable[[str], str]:
    def name(field: str) -> str:
        return f"{prefix}.{field}"

    return name
