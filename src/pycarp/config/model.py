"""The daemon's configuration model: what to run, where, and how addresses are handled.

Address handling is the one place where pycarp must choose between two worlds:

* ``native``: pycarp adds the group's addresses (with their prefix length) when it becomes
  master and removes them otherwise, including stale ones at start-up after a crash.
* ``scripts``: pycarp never touches addresses; the up/down scripts do, exactly as under ucarp.

``auto`` (the default) picks ``scripts`` when an up or down script is given and ``native``
otherwise, so an unchanged ucarp command line (whose scripts run ``ip addr add/del``) behaves as
it did under ucarp, and a command line without scripts still moves the address.
"""

from __future__ import annotations

import dataclasses
import enum
import ipaddress
import pathlib

from pycarp.core.auth import IPAddress
from pycarp.core.settings import GroupSettings

IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface

DEFAULT_SCRIPT_TIMEOUT = 30.0
CARP_GROUP_V4 = ipaddress.IPv4Address("224.0.0.18")
CARP_GROUP_V6 = ipaddress.IPv6Address("ff02::12")


class ConfigError(ValueError):
    """An invalid configuration value: ``field`` is the option or key the user wrote."""

    def __init__(self, field: str, value: object, allowed: str) -> None:
        # A string is shown as written, unless it would break the one-line error (newlines).
        shown = value if isinstance(value, str) and value.isprintable() else repr(value)
        super().__init__(f"{field}: {shown!s} is not allowed ({allowed})")
        self.field = field
        self.value = value
        self.allowed = allowed


class AddressMode(enum.Enum):
    AUTO = "auto"
    NATIVE = "native"
    SCRIPTS = "scripts"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class GroupConfig:
    """One group as the daemon runs it: protocol settings plus everything around them."""

    interface: str
    settings: GroupSettings
    prefixes: tuple[IPInterface, ...]  # the addresses with their prefix length, as installed
    address_mode: AddressMode = AddressMode.AUTO
    upscript: str | None = None
    downscript: str | None = None
    xparam: str | None = None
    notify: tuple[str, ...] = ()  # devd-style command: argv + "<vhid>@<if>" + "<STATE>"
    ignore_ifstate: bool = False  # ucarp --ignoreifstate: never go to INIT on carrier loss
    destination: IPAddress | None = None  # unicast peer / broadcast / other group; None: CARP's
    script_timeout: float = DEFAULT_SCRIPT_TIMEOUT

    @property
    def key(self) -> tuple[str, int]:
        """Groups are identified by (interface, vhid), as in the kernels."""
        return (self.interface, self.settings.vhid)

    @property
    def name(self) -> str:
        """``vhid@interface``, as FreeBSD names a group in its logs and devd events."""
        return f"{self.settings.vhid}@{self.interface}"

    @property
    def native_addresses(self) -> bool:
        if self.address_mode is AddressMode.AUTO:
            return not (self.upscript or self.downscript)
        return self.address_mode is AddressMode.NATIVE


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class DaemonConfig:
    """Everything one pycarp process runs: many groups on many interfaces."""

    groups: tuple[GroupConfig, ...]
    debug: bool = False
    facility: str | None = None  # syslog facility; None logs to stderr
    daemonize: bool = False
    config_path: pathlib.Path | None = None  # set when read from --config (SIGHUP re-reads it)

    def __post_init__(self) -> None:
        if not self.groups:
            raise ConfigError("groups", "none", "at least one group")
        seen: set[tuple[str, int]] = set()
        sources: dict[tuple[str, int], IPAddress] = {}
        for group in self.groups:
            if group.key in seen:
                raise ConfigError(
                    "vhid", f"{group.settings.vhid} on {group.interface} twice", "one per interface"
                )
            seen.add(group.key)
            # One advert socket serves every group of an interface and address family, and it
            # sends from one address: the host's own address on that interface.
            source = group.settings.source
            if source is None:
                continue
            first = sources.setdefault((group.interface, source.version), source)
            if first != source:
                raise ConfigError(
                    f"source of vhid {group.settings.vhid}",
                    str(source),
                    f"the same source as the other groups on {group.interface} ({first})",
                )


def parse_address(field: str, text: str) -> IPInterface:
    """``198.51.100.10`` or ``198.51.100.10/24`` or an IPv6 equivalent; host prefix by default."""
    try:
        return ipaddress.ip_interface(text.strip())
    except ValueError:
        raise ConfigError(field, text, "an IPv4 or IPv6 address, optionally with /prefix") from None


def parse_ip(field: str, text: str) -> IPAddress:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        raise ConfigError(field, text, "an IPv4 or IPv6 address") from None


def parse_int(field: str, value: object, low: int, high: int) -> int:
    """An integer in ``low..high`` (strings allowed, as from a command line)."""
    try:
        number = (
            int(value) if isinstance(value, str | int) and not isinstance(value, bool) else None
        )
    except ValueError:
        number = None
    if number is None or not low <= number <= high:
        raise ConfigError(field, value, f"an integer from {low} to {high}")
    return number


def read_passfile(field: str, path: str) -> bytes:
    """ucarp's rule: the passphrase is the first line of the file (without its newline)."""
    try:
        data = pathlib.Path(path).read_bytes()
    except OSError as error:
        raise ConfigError(field, path, f"a readable file ({error.strerror})") from None
    first = data.split(b"\n", 1)[0].rstrip(b"\r")
    if not first:
        raise ConfigError(field, path, "a file whose first line is the passphrase")
    return first
