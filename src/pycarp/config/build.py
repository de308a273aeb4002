"""Turn raw option values (from flags or TOML) into a validated :class:`GroupConfig`.

One builder for both front ends, so a value is checked the same way wherever it was written.
``names`` maps each setting to the spelling the user wrote (``--advskew`` on the command line,
``group[2].advskew`` in a file), and every error uses that spelling.
"""

from __future__ import annotations

import dataclasses
import datetime
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
    parse_address,
    parse_ip,
    parse_seconds,
    parse_setting,
    parse_setting_seconds,
    read_passfile,
    shown,
)
from pycarp.core.auth import KEY_LEN, SignatureMode, passphrase_key
from pycarp.core.constants import IPAddress, IPInterface
from pycarp.core.settings import (
    DEFAULT_INTERVAL,
    DEFAULT_PRIORITY,
    INTERVAL_ALLOWED,
    SETTING_RANGES,
    DemoteOnWire,
    GroupSettings,
    Protocol,
    SettingsError,
    whole_centiseconds,
)
from pycarp.core.vrrpwire import ChecksumMode

# Printable ASCII without space, '/' and ':', 1 to 15 bytes (IFNAMSIZ 16 with the NUL).
_IFNAME = re.compile(r"[!-.0-9;-~]{1,15}")
_BROADCAST = ipaddress.IPv4Address("255.255.255.255")
_VHIDS = SETTING_RANGES["vhid"].allowed()
PASS_ENV = "PYCARP_PASS"  # noqa: S105 - the variable's name, not a secret
_E = typing.TypeVar("_E", SignatureMode, AddressMode, DemoteOnWire, Protocol, ChecksumMode)
# Keys that mean something for one protocol only: giving one to the other is a mistake.
VRRP_ONLY = ("priority", "interval", "preempt_delay", "vrrp_checksum")


@dataclasses.dataclass(slots=True, kw_only=True)
class RawGroup:
    """Values as the user wrote them (strings or numbers); ``None`` means "not given"."""

    interface: object = None
    source: object = None
    vhid: object = None
    passphrase: object = dataclasses.field(default=None, repr=False)  # never in a traceback
    passfile: object = None
    pass_env: object = None
    key_hex: object = dataclasses.field(default=None, repr=False)  # a raw key, in hex
    addresses: Sequence[object] = ()
    advbase: object = 1
    advskew: object = 0
    dead_ratio: object = 3
    preempt: object = None  # None: the protocol's default (CARP off, VRRPv3 on)
    neutral: bool = False
    signature_mode: object = "kernel"
    demote_on_wire: object = "advskew"
    address_mode: object = "auto"
    upscript: object = None
    downscript: object = None
    xparam: object = None
    notify: object = None
    ignore_ifstate: bool = False
    vmac: bool = False
    destination: object = None
    script_timeout: object = DEFAULT_SCRIPT_TIMEOUT
    protocol: object = "carp"
    priority: object = None  # VRRPv3: 1-254, 255 = address owner (default 100)
    interval: object = None  # VRRPv3: seconds, 0.01-40.95 in steps of 0.01 (default 1)
    preempt_delay: object = None  # VRRPv3: seconds after start before preempting (default 0)
    vrrp_checksum: object = None  # VRRPv3 over IPv4: pseudo-header (default) or rfc9568


def build_group(
    raw: RawGroup, name: Callable[[str], str], passfiles: dict[str, bytes] | None = None
) -> GroupConfig:
    """Validate ``raw``; ``name(field)`` gives the user's spelling of a field for errors.

    ``passfiles`` (path -> passphrase) lets the groups of one file share a passfile read: 10,000
    groups with the same passfile open it once.
    """
    interface = _interface(name("interface"), raw.interface)
    protocol = _choice(name("protocol"), raw.protocol, Protocol)
    if raw.source is None:
        raise ConfigError(name("source"), "missing", "this host's own address on the interface")
    source = _source(name("source"), raw.source)
    destination = _destination(name("destination"), raw.destination, source)
    prefixes = _addresses(name("addresses"), raw.addresses, source)
    vrrp = protocol is Protocol.VRRP3
    if vrrp:
        protocol_settings = _vrrp_settings(raw, name, destination)
        secret = _Secret(given=b"", key=b"", passphrase_length=0)
    else:
        given = next((k for k in VRRP_ONLY if getattr(raw, k) is not None), None)
        if given is not None:
            raise ConfigError(name(given), getattr(raw, given), "only in a VRRPv3 group")
        secret = _secret(raw, name, {} if passfiles is None else passfiles)
        protocol_settings = {"passphrase": secret.key}
    try:
        settings = GroupSettings(
            vhid=parse_setting(name("vhid"), _required(name("vhid"), raw.vhid, _VHIDS), "vhid"),
            addresses=tuple(p.ip for p in prefixes),
            source=source,
            advbase=parse_setting(name("advbase"), raw.advbase, "advbase"),
            advskew=parse_setting(name("advskew"), raw.advskew, "advskew"),
            dead_ratio=parse_setting(name("dead_ratio"), raw.dead_ratio, "dead_ratio"),
            preempt=vrrp if raw.preempt is None else _flag(name("preempt"), raw.preempt),
            neutral=_flag(name("neutral"), raw.neutral),
            multicast=destination is None or destination.is_multicast,
            signature_mode=_choice(name("signature_mode"), raw.signature_mode, SignatureMode),
            demote_on_wire=_choice(name("demote_on_wire"), raw.demote_on_wire, DemoteOnWire),
            **protocol_settings,  # type: ignore[arg-type]
        )
    except SettingsError as error:  # a cross-field rule of the core: report it in user terms
        raise ConfigError(name(error.field), error.value, error.allowed) from None
    address_mode = _choice(name("address_mode"), raw.address_mode, AddressMode)
    vmac = _flag(name("vmac"), raw.vmac)
    if vmac and (
        address_mode is AddressMode.SCRIPTS
        or (address_mode is AddressMode.AUTO and (raw.upscript or raw.downscript))
    ):
        raise ConfigError(
            name("vmac"),
            True,
            "needs native address mode: pycarp puts the addresses on the virtual-MAC interface "
            "(set address_mode native to keep the scripts for other work)",
        )
    return GroupConfig(
        interface=interface,
        settings=settings,
        secret=secret.given,
        passphrase_length=secret.passphrase_length,
        prefixes=prefixes,
        address_mode=address_mode,
        upscript=_script(name("upscript"), raw.upscript),
        downscript=_script(name("downscript"), raw.downscript),
        xparam=None if raw.xparam is None else text(name("xparam"), raw.xparam),
        notify=_command(name("notify"), raw.notify),
        ignore_ifstate=_flag(name("ignore_ifstate"), raw.ignore_ifstate),
        vmac=vmac,
        destination=destination,
        script_timeout=parse_seconds(name("script_timeout"), raw.script_timeout, 0.1, 3600),
    )


def _vrrp_settings(
    raw: RawGroup, name: Callable[[str], str], destination: IPAddress | None
) -> dict[str, object]:
    """VRRPv3's values; CARP's key and a unicast peer are refused (VRRPv3 has neither)."""
    given = next((k for k in _SECRET_FIELDS if getattr(raw, k)), None)
    if given is not None:
        raise ConfigError(name(given), "given", "none: VRRPv3 has no authentication")
    if destination is not None:
        raise ConfigError(
            name("destination"), str(destination), "none: VRRPv3 runs on its multicast group"
        )
    return {
        "passphrase": b"",
        "protocol": Protocol.VRRP3,
        "priority": parse_setting(
            name("priority"),
            DEFAULT_PRIORITY if raw.priority is None else raw.priority,
            "priority",
        ),
        "interval": parse_interval(
            name("interval"), DEFAULT_INTERVAL if raw.interval is None else raw.interval
        ),
        "preempt_delay": parse_setting_seconds(
            name("preempt_delay"),
            0 if raw.preempt_delay is None else raw.preempt_delay,
            "preempt_delay",
        ),
        "vrrp_checksum": _choice(
            name("vrrp_checksum"),
            ChecksumMode.PSEUDO_HEADER.value if raw.vrrp_checksum is None else raw.vrrp_checksum,
            ChecksumMode,
        ),
    }


def parse_interval(field: str, value: object) -> float:
    """VRRPv3's interval: seconds in its range, in whole centiseconds (VRRPv3's unit)."""
    seconds = parse_setting_seconds(field, value, "interval")
    if not whole_centiseconds(seconds):
        raise ConfigError(field, value, INTERVAL_ALLOWED)
    return seconds


def text(field: str, value: object, *, secret: bool = False) -> str:
    """A string, as written. Anything else is refused, never turned into one with ``str()``:
    ``passphrase = ["x"]`` must not become the key ``['x']``. A secret's value is not shown."""
    if not isinstance(value, str):
        kind = kind_of(value)
        raise ConfigError(field, f"<{kind}>" if secret else value, f"a string, not {kind}")
    return value


def _path(field: str, value: object) -> str:
    """A file name: a string, or a ``pathlib.Path`` from a program that builds a RawGroup (a
    TOML file or a command line can only give a string)."""
    return text(field, os.fspath(value) if isinstance(value, os.PathLike) else value)


def kind_of(value: object) -> str:
    """The TOML name of a value's type, for "a string, not an array"."""
    kinds: list[tuple[type | tuple[type, ...], str]] = [
        (bool, "a boolean"),  # before int: a bool is an int to Python
        (int, "an integer"),
        (float, "a float"),
        (str, "a string"),
        ((list, tuple), "an array"),
        (dict, "a table"),
        ((datetime.datetime, datetime.date, datetime.time), "a date or time"),
    ]
    return next((name for kind, name in kinds if isinstance(value, kind)), type(value).__name__)


def _required(field: str, value: object, allowed: str) -> object:
    if value is None:
        raise ConfigError(field, "missing", allowed)
    return value


def _interface(field: str, value: object) -> str:
    """Linux's own rule (``dev_valid_name``), in printable ASCII: a name the kernel can have."""
    name = text(field, _required(field, value, "a network interface name"))
    if not _IFNAME.fullmatch(name) or name in (".", ".."):
        raise ConfigError(
            field,
            name,
            "an interface name of 1-15 printable ASCII characters, no '/', ':' or spaces",
        )
    return name


def _source(field: str, value: object) -> IPAddress:
    """The host's own unicast address: adverts are sent from it and answered to it."""
    written = text(field, value)
    source = parse_ip(field, written)
    if (
        source.is_multicast
        or source.is_unspecified
        or source.is_loopback
        or source == _BROADCAST
        or (isinstance(source, ipaddress.IPv6Address) and source.ipv4_mapped is not None)
    ):
        raise ConfigError(field, written, "this host's own unicast address on the interface")
    return source


def _destination(field: str, value: object, source: IPAddress) -> IPAddress | None:
    """Where adverts go instead of CARP's group: a peer, a multicast group or broadcast.

    One socket per family sends them, so the destination must be of the source's family (an
    IPv6 peer for an IPv4 source could never be reached: the send would fail on every advert).
    """
    if value is None:
        return None
    written = text(field, value)
    destination = parse_ip(field, written)
    if destination.version != source.version:
        raise ConfigError(
            field, written, f"an IPv{source.version} address, like the source {source}"
        )
    if destination.is_unspecified or destination.is_loopback or destination == source:
        raise ConfigError(
            field, written, "a peer's address, a multicast group or the broadcast address"
        )
    return destination


def _addresses(field: str, values: Sequence[object], source: IPAddress) -> tuple[IPInterface, ...]:
    if not values:
        raise ConfigError(field, "none", "at least one virtual address")
    prefixes = tuple(parse_address(field, text(field, v)) for v in values)
    seen: set[IPAddress] = set()
    for prefix in prefixes:
        ip = prefix.ip  # a new object on every access: read it once
        if ip in seen:
            raise ConfigError(field, str(ip), "each address once")
        if ip == source:
            raise ConfigError(field, str(ip), "a virtual address, not the host's source")
        if ip.is_multicast or ip.is_unspecified:
            raise ConfigError(field, str(ip), "a unicast address")
        seen.add(ip)
    return prefixes


@dataclasses.dataclass(frozen=True, slots=True)
class _Secret:
    """What the user gave (hidden from hooks), the HMAC key it makes, and, for a typed
    passphrase, its length (0 for a raw key): longer than 19 bytes is worth a warning."""

    given: bytes = dataclasses.field(repr=False)
    key: bytes = dataclasses.field(repr=False)
    passphrase_length: int


_SECRET_FIELDS = ("passphrase", "passfile", "pass_env", "key_hex")


def _secret(raw: RawGroup, name: Callable[[str], str], passfiles: dict[str, bytes]) -> _Secret:
    """The group's key: a passphrase (its first 19 bytes, as BSD ifconfig) or a raw hex key."""
    given = [k for k in _SECRET_FIELDS if getattr(raw, k) is not None]
    if len(given) > 1:
        raise ConfigError(name(given[1]), "given too", f"only one of {', '.join(map(name, given))}")
    if raw.key_hex is not None:
        key = parse_key_hex(name("key_hex"), raw.key_hex)
        return _Secret(given=key, key=key, passphrase_length=0)
    passphrase = _passphrase(raw, name, passfiles)
    return _Secret(
        given=passphrase, key=passphrase_key(passphrase), passphrase_length=len(passphrase)
    )


def parse_key_hex(field: str, value: object) -> bytes:
    """A raw key of 1 to 20 bytes, as FreeBSD's netlink/ioctl set it (every byte counts).

    Written as hex digits, optionally with ``0x`` and ``:`` or spaces between bytes. The
    value is never shown in an error: it is the secret.
    """
    written = text(field, value, secret=True)
    digits = "".join(written.split()).replace(":", "").removeprefix("0x").removeprefix("0X")
    allowed = f"1 to {KEY_LEN} bytes as hex digits (2 to {2 * KEY_LEN} digits)"
    try:
        key = bytes.fromhex(digits)
    except ValueError:
        raise ConfigError(field, f"<{len(written)} characters>", allowed) from None
    if not 1 <= len(key) <= KEY_LEN:
        raise ConfigError(field, f"<{len(key)} bytes>", allowed)
    return key


def _passphrase(raw: RawGroup, name: Callable[[str], str], passfiles: dict[str, bytes]) -> bytes:
    """The passphrase as given, every byte (what counts of it is :func:`passphrase_key`'s)."""
    if raw.passfile is not None:
        field = name("passfile")
        path = _path(field, raw.passfile)
        if path not in passfiles:
            passfiles[path] = read_passfile(field, path)
        return passfiles[path]
    if raw.passphrase is not None:
        return _bytes(text(name("passphrase"), raw.passphrase, secret=True))
    variable = PASS_ENV if raw.pass_env is None else text(name("pass_env"), raw.pass_env)
    value = os.environ.get(variable)
    if not value:
        field = name("pass_env") if raw.pass_env is not None else name("passphrase")
        raise ConfigError(
            field,
            "missing",
            f"give --passfile FILE, --key-hex HEX, or set {shown(variable)} in the environment, "
            "or --pass",
        )
    return _bytes(value)


def _bytes(secret: str) -> bytes:
    """The bytes the user typed: a command line or the environment may hold bytes that are
    not UTF-8 (Python keeps them as surrogates); ucarp uses the bytes as they are."""
    return secret.encode("utf-8", "surrogateescape")


def _flag(field: str, value: object) -> bool:
    """Only a real boolean: in a TOML file ``preempt = "false"`` must not mean True."""
    if not isinstance(value, bool):
        raise ConfigError(field, value, "true or false")
    return value


def _choice(field: str, value: object, kind: type[_E]) -> _E:
    written = text(field, value)  # outside the try: a ConfigError is a ValueError too
    try:
        return kind(written)
    except ValueError:
        allowed = "one of " + ", ".join(m.value for m in kind)
        raise ConfigError(field, value, allowed) from None


def _script(field: str, value: object) -> str | None:
    if value is None:
        return None
    path = _path(field, value)
    if not os.path.isfile(path) or not os.access(path, os.X_OK):
        raise ConfigError(field, path, "an executable file")
    return path


def _command(field: str, value: object) -> tuple[str, ...]:
    """An argument list (TOML: used as is, no shell-style splitting) or a command line."""
    if value is None:
        return ()
    if isinstance(value, list | tuple):
        if not all(isinstance(v, str) for v in value):
            bad = next(v for v in value if not isinstance(v, str))
            raise ConfigError(field, bad, f"a list of strings, not {kind_of(bad)} in it")
        argv = tuple(value)
    else:
        written = text(field, value)  # outside the try: a ConfigError is a ValueError too
        try:
            argv = tuple(shlex.split(written))
        except ValueError as error:
            raise ConfigError(field, value, f"a command line ({error})") from None
    if not argv:
        raise ConfigError(field, value, "a command line")
    return argv
