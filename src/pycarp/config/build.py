"""Turn raw option values (from flags or TOML) into a validated :class:`GroupConfig`.

One builder for both front ends, so a value is checked the same way wherever it was written.
``names`` maps each setting to the spelling the user wrote (``--advskew`` on the command line,
``group[2].advskew`` in a file), and every error uses that spelling.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import shlex
import typing
from collections.abc import Callable, Sequence

from pycarp.config.model import (
    DEFAULT_SCRIPT_TIMEOUT,
    AddressMode,
    ConfigError,
    GroupConfig,
    IPInterface,
    parse_address,
    parse_int,
    parse_ip,
    read_passfile,
)
from pycarp.core.auth import KEY_LEN, IPAddress, SignatureMode
from pycarp.core.settings import GroupSettings, SettingsError

_IFNAME = re.compile(r"^[^\s/:]{1,15}$")
PASS_ENV = "PYCARP_PASS"  # noqa: S105 - the variable's name, not a secret
_E = typing.TypeVar("_E", SignatureMode, AddressMode)


@dataclasses.dataclass(slots=True, kw_only=True)
class RawGroup:
    """Values as the user wrote them (strings or numbers); ``None`` means "not given"."""

    interface: object = None
    source: object = None
    vhid: object = None
    passphrase: object = dataclasses.field(default=None, repr=False)  # never in a traceback
    passfile: object = None
    pass_env: object = None
    addresses: Sequence[object] = ()
    advbase: object = 1
    advskew: object = 0
    dead_ratio: object = 3
    preempt: bool = False
    neutral: bool = False
    signature_mode: object = "kernel"
    address_mode: object = "auto"
    upscript: object = None
    downscript: object = None
    xparam: object = None
    notify: object = None
    ignore_ifstate: bool = False
    destination: object = None
    script_timeout: object = DEFAULT_SCRIPT_TIMEOUT


def build_group(raw: RawGroup, name: Callable[[str], str]) -> GroupConfig:
    """Validate ``raw``; ``name(field)`` gives the user's spelling of a field for errors."""
    interface = _interface(name("interface"), raw.interface)
    if raw.source is None:
        raise ConfigError(name("source"), "missing", "this host's own address on the interface")
    source = parse_ip(name("source"), str(raw.source))
    prefixes = _addresses(name("addresses"), raw.addresses, source)
    try:
        settings = GroupSettings(
            vhid=parse_int(name("vhid"), _required(name("vhid"), raw.vhid, "1 to 255"), 1, 255),
            passphrase=_passphrase(raw, name),
            addresses=tuple(p.ip for p in prefixes),
            source=source,
            advbase=parse_int(name("advbase"), raw.advbase, 1, 255),
            advskew=parse_int(name("advskew"), raw.advskew, 0, 254),
            dead_ratio=parse_int(name("dead_ratio"), raw.dead_ratio, 1, 255),
            preempt=_flag(name("preempt"), raw.preempt),
            neutral=_flag(name("neutral"), raw.neutral),
            multicast=raw.destination is None or _is_multicast(raw.destination),
            signature_mode=_choice(name("signature_mode"), raw.signature_mode, SignatureMode),
        )
    except SettingsError as error:  # a cross-field rule of the core: report it in user terms
        raise ConfigError(name(error.field), error.value, error.allowed) from None
    return GroupConfig(
        interface=interface,
        settings=settings,
        prefixes=prefixes,
        address_mode=_choice(name("address_mode"), raw.address_mode, AddressMode),
        upscript=_script(name("upscript"), raw.upscript),
        downscript=_script(name("downscript"), raw.downscript),
        xparam=None if raw.xparam is None else str(raw.xparam),
        notify=_command(name("notify"), raw.notify),
        ignore_ifstate=_flag(name("ignore_ifstate"), raw.ignore_ifstate),
        destination=(
            None if raw.destination is None else parse_ip(name("destination"), str(raw.destination))
        ),
        script_timeout=_timeout(name("script_timeout"), raw.script_timeout),
    )


def _required(field: str, value: object, allowed: str) -> object:
    if value is None:
        raise ConfigError(field, "missing", allowed)
    return value


def _interface(field: str, value: object) -> str:
    text = str(_required(field, value, "a network interface name"))
    if not _IFNAME.match(text):
        raise ConfigError(
            field, text, "an interface name of 1-15 characters, no '/', ':' or spaces"
        )
    return text


def _addresses(field: str, values: Sequence[object], source: IPAddress) -> tuple[IPInterface, ...]:
    if not values:
        raise ConfigError(field, "none", "at least one virtual address")
    prefixes = tuple(parse_address(field, str(v)) for v in values)
    seen: set[IPAddress] = set()
    for prefix in prefixes:
        if prefix.ip in seen:
            raise ConfigError(field, str(prefix.ip), "each address once")
        if prefix.ip == source:
            raise ConfigError(field, str(prefix.ip), "a virtual address, not the host's source")
        if prefix.ip.is_multicast or prefix.ip.is_unspecified:
            raise ConfigError(field, str(prefix.ip), "a unicast address")
        seen.add(prefix.ip)
    return prefixes


def _passphrase(raw: RawGroup, name: Callable[[str], str]) -> bytes:
    given = [k for k in ("passphrase", "passfile", "pass_env") if getattr(raw, k) is not None]
    if len(given) > 1:
        raise ConfigError(name(given[1]), "given too", f"only one of {', '.join(map(name, given))}")
    if raw.passfile is not None:
        secret = read_passfile(name("passfile"), str(raw.passfile))
        field = name("passfile")
    elif raw.passphrase is not None:
        secret = str(raw.passphrase).encode()
        field = name("passphrase")
    else:
        variable = PASS_ENV if raw.pass_env is None else str(raw.pass_env)
        value = os.environ.get(variable)
        field = name("pass_env") if raw.pass_env is not None else name("passphrase")
        if not value:
            raise ConfigError(
                field,
                "missing",
                f"give --passfile FILE, or set {variable} in the environment, or --pass",
            )
        secret = value.encode()
    if len(secret) > KEY_LEN:
        raise ConfigError(field, f"<{len(secret)} bytes>", f"a passphrase of 1 to {KEY_LEN} bytes")
    return secret


def _flag(field: str, value: object) -> bool:
    """Only a real boolean: in a TOML file ``preempt = "false"`` must not mean True."""
    if not isinstance(value, bool):
        raise ConfigError(field, value, "true or false")
    return value


def _choice(field: str, value: object, kind: type[_E]) -> _E:
    try:
        return kind(str(value))
    except ValueError:
        raise ConfigError(field, value, "one of " + ", ".join(m.value for m in kind)) from None


def _script(field: str, value: object) -> str | None:
    if value is None:
        return None
    path = str(value)
    if not os.path.isfile(path) or not os.access(path, os.X_OK):
        raise ConfigError(field, path, "an executable file")
    return path


def _command(field: str, value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        argv = tuple(value)  # TOML: already an argument list, no shell-style splitting
        if argv:
            return argv
        raise ConfigError(field, value, "a command line")
    try:
        argv = tuple(shlex.split(str(value)))
    except ValueError as error:
        raise ConfigError(field, value, f"a command line ({error})") from None
    if not argv:
        raise ConfigError(field, value, "a command line")
    return argv


def _timeout(field: str, value: object) -> float:
    try:
        seconds = float(str(value))
    except ValueError:
        seconds = -1.0
    if not 0.1 <= seconds <= 3600:
        raise ConfigError(field, value, "seconds from 0.1 to 3600")
    return seconds


def _is_multicast(value: object) -> bool:
    try:
        return ipaddress.ip_address(str(value)).is_multicast
    except ValueError:
        return False
