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
import functools
import ipaddress
import os
import pathlib
import re
import stat
import typing

from pycarp.core.auth import PASSPHRASE_BYTES_USED
from pycarp.core.constants import IPAddress, IPInterface
from pycarp.core.settings import SETTING_RANGES, GroupSettings, Range

if typing.TYPE_CHECKING:
    from pycarp.config.tracks import TrackConfig

DEFAULT_SCRIPT_TIMEOUT = 30.0
SHOWN_LIMIT = 60  # characters of a value an error message shows
PASSFILE_LIMIT = 4096  # bytes: a passphrase file is one short line (19 bytes are used)


class ConfigError(ValueError):
    """An invalid configuration value: ``field`` is the option or key the user wrote.

    The message is one line however hostile the value: a non-printable string (a newline, an
    escape sequence) is shown as its repr, and anything longer than :data:`SHOWN_LIMIT`
    characters is cut, so a 1 MB value in a file prints 60 characters, not 1 MB.
    """

    def __init__(self, field: str, value: object, allowed: str) -> None:
        super().__init__(f"{field}: {shown(value)} is not allowed ({allowed})")
        self.field = field
        self.value = value
        self.allowed = allowed


def shown(value: object, limit: int = SHOWN_LIMIT) -> str:
    """``value`` as an error message shows it: on one line, at most ``limit`` characters.

    A printable string as written, anything else (a newline inside, a list) as its repr. A
    longer text keeps its beginning and its end around an ellipsis: where a typo starts, and
    the file name at the end of a long path. Every user-written value in an error comes here.
    """
    text = value if isinstance(value, str) and value.isprintable() else repr(value)
    if len(text) <= limit:
        return text
    tail = (limit - 3) // 3
    return f"{text[: limit - 3 - tail]}...{text[len(text) - tail :]}"


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
    # The secret as given (a passphrase, every byte; or the raw key): hidden from every hook.
    # settings.passphrase holds the HMAC key it makes (a passphrase's first 19 bytes).
    secret: bytes = dataclasses.field(default=b"", repr=False)
    passphrase_length: int = 0  # bytes of a typed passphrase (0: a raw key_hex)
    address_mode: AddressMode = AddressMode.AUTO
    upscript: str | None = None
    downscript: str | None = None
    xparam: str | None = None
    notify: tuple[str, ...] = ()  # devd-style command: argv + "<vhid>@<if>" + "<STATE>"
    ignore_ifstate: bool = False  # ucarp --ignoreifstate: never go to INIT on carrier loss
    vmac: bool = False  # run on a macvlan with the group's virtual MAC (platform/vmac.py)
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
    def hidden_secret(self) -> bytes:
        """What no hook's environment may hold: the secret as given (or, for a GroupConfig
        built by hand, the key)."""
        return self.secret or self.settings.passphrase

    @property
    def passphrase_cut(self) -> bool:
        """A typed passphrase longer than the 19 bytes BSD ifconfig keeps (the rest is unused)."""
        return self.passphrase_length > PASSPHRASE_BYTES_USED

    @property
    def native_addresses(self) -> bool:
        if self.address_mode is AddressMode.AUTO:
            return not (self.upscript or self.downscript)
        return self.address_mode is AddressMode.NATIVE


def passphrases_cut(groups: typing.Iterable[GroupConfig]) -> tuple[tuple[str, ...], int]:
    """The groups whose passphrase is longer than the 19 bytes that count (``vhid@if``), and
    the longest such passphrase: what the start-up warning and ``--check-config`` say."""
    cut = [group for group in groups if group.passphrase_cut]
    return tuple(group.name for group in cut), max((g.passphrase_length for g in cut), default=0)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class DaemonConfig:
    """Everything one pycarp process runs: many groups on many interfaces."""

    groups: tuple[GroupConfig, ...]
    debug: bool = False
    facility: str | None = None  # syslog facility; None logs to stderr
    daemonize: bool = False
    config_path: pathlib.Path | None = None  # set when read from --config (SIGHUP re-reads it)
    # Operating options (config/operate.py). None: not wanted (a Daemon built by a test).
    control: pathlib.Path | None = None  # the control socket
    control_group: str | None = None  # this group may use it too (besides root and our uid)
    # ucarp users run one process per vhid: the second finds the default socket taken and
    # uses this one instead (set only for a default path of a daemon started with flags).
    control_fallback: pathlib.Path | None = None
    state_dir: pathlib.Path | None = None  # maintenance mode is kept here across restarts
    events: str | None = None  # JSON lines: "-" for standard output, or a file
    metrics: tuple[str, int] | None = None  # Prometheus exporter address
    tracks: tuple[TrackConfig, ...] = ()  # health tracks (config/tracks.py)

    @property
    def instance(self) -> str:
        """This daemon's name on the host: its config file's stem, or ``pycarp``."""
        return self.config_path.stem if self.config_path is not None else "pycarp"

    @property
    def state_name(self) -> str:
        """Its saved state's file name (without ``.json``): the instance, or for a daemon
        started with ucarp's flags its group (``1@eth0``): one process per vhid, as under
        ucarp, must not share one maintenance mode by accident."""
        if self.config_path is None and len(self.groups) == 1:
            return self.groups[0].name
        return self.instance

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
        if self.tracks:
            from pycarp.config.tracks import check_tracks

            check_tracks(self.tracks, seen, lambda number, key: f"track[{number}].{key}")


def parse_address(field: str, text: str) -> IPInterface:
    """``198.51.100.10`` or ``198.51.100.10/24`` or an IPv6 equivalent; host prefix by default."""
    address = _interface_or_none(text)
    if address is None:
        raise ConfigError(
            field,
            text,
            _ZONE if "%" in text else "an IPv4 or IPv6 address, optionally with /prefix",
        )
    return address


def parse_ip(field: str, text: str) -> IPAddress:
    """An address as written: no surrounding spaces, no ``%zone`` (the interface is the zone)."""
    address = _address_or_none(text)
    if address is None:
        raise ConfigError(field, text, _ZONE if "%" in text else "an IPv4 or IPv6 address")
    return address


_ZONE = "an address without %zone: the interface is the zone"


# The family is chosen by the text (a ':' is IPv6) rather than by trying IPv4 first, as
# ipaddress.ip_address() does: a failed attempt costs an exception, and 10,000 groups of IPv6
# addresses paid it 20,000 times. Sources repeat (one per interface): they are cached.
@functools.lru_cache(maxsize=1024)
def _address_or_none(text: str) -> IPAddress | None:
    if "%" in text:
        return None
    try:
        return ipaddress.IPv6Address(text) if ":" in text else ipaddress.IPv4Address(text)
    except ValueError:
        return None


def _interface_or_none(text: str) -> IPInterface | None:
    if "%" in text:
        return None
    try:
        return ipaddress.IPv6Interface(text) if ":" in text else ipaddress.IPv4Interface(text)
    except ValueError:
        return None


# ASCII digits only: int() also takes Arabic-Indic and fullwidth digits, "1_0" and " 1 ".
_DECIMAL = re.compile(r"[0-9]{1,10}")
_DECIMAL_FRACTION = re.compile(r"[0-9]{1,10}(\.[0-9]{1,10})?")


def parse_int(field: str, value: object, low: int, high: int) -> int:
    """An integer in ``low..high``: a number, or ASCII decimal digits (as from a command line)."""
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):  # True is an int to Python
        number = value
    elif isinstance(value, str) and _DECIMAL.fullmatch(value):
        number = int(value)
    allowed = Range(low, high)
    if number is None or not allowed.contains(number):
        raise ConfigError(field, value, allowed.allowed())
    return number


def parse_seconds(field: str, value: object, low: float, high: float) -> float:
    """Seconds in ``low..high``: a number, or ASCII decimal like ``2.5`` (no ``1e3``, ``inf``)."""
    number = value
    if isinstance(value, str):
        number = float(value) if _DECIMAL_FRACTION.fullmatch(value) else None
    seconds = None
    if isinstance(number, int | float) and not isinstance(number, bool):
        seconds = float(number)
    allowed = Range(low, high, "seconds")
    if seconds is None or not allowed.contains(seconds):  # NaN is in no range
        raise ConfigError(field, value, allowed.allowed())
    return seconds


def parse_setting(field: str, value: object, setting: str) -> int:
    """A whole-number protocol setting (``vhid``, ``advskew``...) in the range GroupSettings
    allows for ``setting`` (:data:`~pycarp.core.settings.SETTING_RANGES`); ``field`` is how
    the user wrote it (``--advskew``, ``group[2].advskew``)."""
    allowed = SETTING_RANGES[setting]
    if allowed.unit is not None:
        raise TypeError(f"{setting} takes {allowed.unit}: parse it with parse_setting_seconds")
    return parse_int(field, value, int(allowed.low), int(allowed.high))


def parse_setting_seconds(field: str, value: object, setting: str) -> float:
    """A protocol setting in seconds (a ``Range`` with unit ``"seconds"``), as
    :func:`parse_setting` does for whole numbers."""
    allowed = SETTING_RANGES[setting]
    if allowed.unit != "seconds":
        raise TypeError(f"{setting} is not in seconds: parse it with parse_setting")
    return parse_seconds(field, value, allowed.low, allowed.high)


def read_passfile(field: str, path: str) -> bytes:
    """ucarp's rule: the passphrase is the first line of the file (without its newline).

    Only a regular file of at most :data:`PASSFILE_LIMIT` bytes: a FIFO would block start-up
    until somebody writes to it (hence ``O_NONBLOCK`` on open, then the type check on the open
    descriptor, so the file cannot be swapped in between), ``/dev/zero`` would be read until
    memory runs out. At most one byte more than the limit is ever read.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
    try:
        fd = os.open(path, flags)
    except OSError as error:
        raise ConfigError(field, path, f"a readable file ({error.strerror})") from None
    except ValueError:  # a NUL byte in the name
        raise ConfigError(field, path, "a file name") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise ConfigError(field, path, f"a regular file, not {_file_kind(mode)}")
        data = _read_at_most(fd, PASSFILE_LIMIT + 1)
    except OSError as error:
        raise ConfigError(field, path, f"a readable file ({error.strerror})") from None
    finally:
        os.close(fd)
    if len(data) > PASSFILE_LIMIT:
        raise ConfigError(field, path, f"a file of at most {PASSFILE_LIMIT} bytes")
    first = data.split(b"\n", 1)[0].rstrip(b"\r")
    if not first:
        raise ConfigError(field, path, "a file whose first line is the passphrase")
    return first


def _read_at_most(fd: int, size: int) -> bytes:
    chunks: list[bytes] = []
    left = size
    while left > 0:
        chunk = os.read(fd, left)
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _file_kind(mode: int) -> str:
    kinds = [
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ]
    return next((name for test, name in kinds if test(mode)), "a special file")
