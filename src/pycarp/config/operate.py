"""Daemon-wide operating options: control socket, state directory, ``--events``, ``--metrics``.

Shared by the command line and the ``[daemon]`` table of a ``--config`` file, so both accept the
same values and name the same errors. Defaults depend on the instance name (the config file's
stem, or ``pycarp``): two daemons on one host never share a socket or a state file by accident.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import pathlib
from typing import TypedDict

from pycarp.config.model import ConfigError, parse_int

RUN_DIR = pathlib.Path("/run/pycarp")
STATE_DIR = pathlib.Path("/var/lib/pycarp")
OFF = "off"
MAX_PATH = 107  # a Unix socket path: sun_path holds 108 bytes with its NUL


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Operate:
    """The operating options as written (None: not given); :func:`resolve` applies defaults."""

    control: str | None = None
    control_group: str | None = None
    state_dir: str | None = None
    events: str | None = None
    metrics: str | None = None

    def over(self, base: Operate) -> Operate:
        """These options, each falling back to ``base``'s (flags over the config file)."""
        return Operate(
            **{
                f.name: getattr(self, f.name)
                if getattr(self, f.name) is not None
                else getattr(base, f.name)
                for f in dataclasses.fields(self)
            }
        )


def control_path(field: str, text: str | None, instance: str) -> pathlib.Path | None:
    if text is None:
        return RUN_DIR / f"{instance}.sock"
    if text == OFF:
        return None
    _check_path(field, text, "a socket path (or off)")
    if len(text.encode()) > MAX_PATH:
        raise ConfigError(field, text, f"a socket path of at most {MAX_PATH} bytes")
    return pathlib.Path(text)


def state_dir(field: str, text: str | None) -> pathlib.Path | None:
    if text is None:
        return STATE_DIR
    if text == OFF:
        return None
    _check_path(field, text, "a directory (or off)")
    return pathlib.Path(text)


def events_target(field: str, text: str | None) -> str | None:
    """``-`` is standard output; anything else a file (appended to)."""
    if text is None:
        return None
    if text != "-":
        _check_path(field, text, "a file, or - for standard output")
    return text


def metrics_address(field: str, text: str | None) -> tuple[str, int] | None:
    """``HOST:PORT`` (``[v6]:PORT`` for IPv6); HOST an address, PORT 1-65535."""
    if text is None:
        return None
    allowed = "HOST:PORT, HOST an IP address ([...] for IPv6), PORT 1-65535"
    host, sep, port_text = text.rpartition(":")
    if not sep:
        raise ConfigError(field, text, allowed)
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ConfigError(field, text, allowed)
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ConfigError(field, text, allowed) from None
    try:
        port = parse_int(field, port_text, 1, 65535)
    except ConfigError:
        raise ConfigError(field, text, allowed) from None
    return (str(address), port)


def _check_path(field: str, text: str, allowed: str) -> None:
    if not text or "\0" in text or text != text.strip():
        raise ConfigError(field, text, allowed)


class Resolved(TypedDict):
    control: pathlib.Path | None
    control_group: str | None
    state_dir: pathlib.Path | None
    events: str | None
    metrics: tuple[str, int] | None


def resolve(options: Operate, instance: str, names: dict[str, str]) -> Resolved:
    """The DaemonConfig fields for ``options`` (``names``: how the user wrote each field)."""
    group = options.control_group
    if group is not None and (not group or not group.isprintable() or " " in group):
        raise ConfigError(names["control_group"], group, "a group name")
    return {
        "control": control_path(names["control"], options.control, instance),
        "control_group": group,
        "state_dir": state_dir(names["state_dir"], options.state_dir),
        "events": events_target(names["events"], options.events),
        "metrics": metrics_address(names["metrics"], options.metrics),
    }


FLAG_NAMES = {f.name: "--" + f.name.replace("_", "-") for f in dataclasses.fields(Operate)}
