"""What one CARP group (one vhid on one interface) is configured to be, validated.

This is the core's view of the configuration: protocol values only. Where the daemon runs it,
which scripts it calls and how addresses get installed live in :mod:`pycarp.config`.
Out-of-range values raise :class:`SettingsError`, naming the field, the value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import enum
import ipaddress

from pycarp.core.auth import KEY_LEN, SignatureMode
from pycarp.core.constants import MAX_VHID, IPAddress
from pycarp.core.timing import MAX_WIRE_ADVSKEW
from pycarp.core.vrrpwire import MAX_ADDRESSES, MAX_INTERVAL_CS, OWNER_PRIORITY, ChecksumMode

MAX_CONFIG_ADVSKEW = 254  # 255 is reserved for the bow-out advert
DEFAULT_DEMOTION_FACTOR = MAX_WIRE_ADVSKEW  # FreeBSD ifdown/senderr_demotion_factor
SEND_ERRORS_TO_DEMOTE = 3  # FreeBSD: three consecutive send errors demote, three successes undo
DEFAULT_PRIORITY = 100  # VRRP's default (RFC 9568, keepalived)
DEFAULT_INTERVAL = 1.0  # VRRP: one advert a second
MAX_PREEMPT_DELAY = 1000.0  # seconds, keepalived's limit
INTERVAL_ALLOWED = "seconds from 0.01 to 40.95 in steps of 0.01"
CENTISECOND_SLACK = 1e-6  # 0.07 * 100 is 7.000000000000001 in binary floating point


class Protocol(enum.Enum):
    """The wire protocol and election rule of a group (the same machine runs both)."""

    CARP = "carp"
    VRRP3 = "vrrp3"  # VRRPv3, RFC 9568: priorities, no authentication


class DemoteOnWire(enum.Enum):
    """Where our demotion travels: added to advskew (FreeBSD, ucarp's peers understand it) or in
    the demote byte ``pad1`` with advskew left as configured (OpenBSD). Either way pycarp reads
    the byte it receives (see :mod:`pycarp.core.election`)."""

    ADVSKEW = "advskew"
    BYTE = "byte"


class SettingsError(ValueError):
    """A configuration value is out of range: ``field``, ``value`` and ``allowed`` say which."""

    def __init__(self, field: str, value: object, allowed: str) -> None:
        super().__init__(f"{field}: {value!r} is not allowed ({allowed})")
        self.field = field
        self.value = value
        self.allowed = allowed


@dataclasses.dataclass(frozen=True, slots=True)
class Range:
    """The values a numeric setting may take, both ends included.

    ``unit`` None means whole numbers only; a unit (``"seconds"``) allows a decimal number.
    ``allowed()`` is the text every error about the setting ends with, wherever it was written.
    """

    low: float
    high: float
    unit: str | None = None

    def contains(self, value: object) -> bool:
        if isinstance(value, bool):  # True is an int to Python, never a number to a user
            return False
        kinds = int if self.unit is None else (int, float)
        return isinstance(value, kinds) and self.low <= value <= self.high  # NaN fails

    def allowed(self) -> str:
        what = "an integer" if self.unit is None else self.unit
        return f"{what} from {self.low:g} to {self.high:g}"

    def __str__(self) -> str:  # for --help: "1-255"
        return f"{self.low:g}-{self.high:g}"


# Every numeric protocol setting of GroupSettings and what it may be: the one place a range is
# written. GroupSettings checks it; the configuration front ends (flags, TOML, --check-config)
# and the simulator's options parse with it, so their errors name the same range. A new setting
# is a field of GroupSettings plus a row here (``Range(low, high)`` for whole numbers,
# ``Range(low, high, "seconds")`` for a decimal), parsed in config/build.py with
# ``parse_setting`` or ``parse_setting_seconds``; tests/config/test_ranges.py then checks it on
# every front end that has it.
SETTING_RANGES: dict[str, Range] = {
    "vhid": Range(1, MAX_VHID),
    "advbase": Range(0, 255),  # 0: OpenBSD's sub-second mode (pycarp.core.timing)
    "advskew": Range(0, MAX_CONFIG_ADVSKEW),
    "dead_ratio": Range(1, 255),
    "senderr_demotion": Range(0, MAX_WIRE_ADVSKEW),
    # VRRPv3 (RFC 9568): 255 is the address owner; the interval is 12 bits of centiseconds
    # (its 0.01 s steps are checked on top); preempt_delay as keepalived's.
    "priority": Range(1, OWNER_PRIORITY),
    "interval": Range(0.01, MAX_INTERVAL_CS / 100, "seconds"),
    "preempt_delay": Range(0, MAX_PREEMPT_DELAY, "seconds"),
}


def whole_centiseconds(seconds: float) -> bool:
    """``seconds`` is a whole number of centiseconds (VRRPv3's unit), within float rounding."""
    return abs(seconds * 100 - round(seconds * 100)) <= CENTISECOND_SLACK


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class GroupSettings:
    """Protocol settings of one group. ``source`` is our own address on the interface.

    ``multicast`` False means unicast to a peer: the TTL check is skipped, as FreeBSD does.
    ``neutral`` is ucarp's ``--neutral``: do not run the down hook on start-up.
    ``advbase`` 0 is OpenBSD's sub-second mode (see :mod:`pycarp.core.timing`).
    ``honour_demote_byte`` False ignores the demote byte peers send, as FreeBSD and ucarp do: no
    configuration sets it; the simulator uses it to model those peers in mixed groups.
    """

    vhid: int
    passphrase: bytes
    addresses: tuple[IPAddress, ...]
    source: IPAddress | None = None
    advbase: int = 1
    advskew: int = 0
    dead_ratio: int = 3
    preempt: bool = False
    neutral: bool = False
    multicast: bool = True
    signature_mode: SignatureMode = SignatureMode.KERNEL
    senderr_demotion: int = DEFAULT_DEMOTION_FACTOR
    demote_on_wire: DemoteOnWire = DemoteOnWire.ADVSKEW
    honour_demote_byte: bool = True
    # VRRPv3 only (protocol VRRP3); advbase, advskew, dead_ratio and the passphrase are CARP's.
    protocol: Protocol = Protocol.CARP
    priority: int = DEFAULT_PRIORITY  # 1-254; 255 = the address owner
    interval: float = DEFAULT_INTERVAL  # advert interval, seconds: 0.01-40.95 in 0.01 steps
    preempt_delay: float = 0.0  # seconds after start before a lower-priority master is preempted
    vrrp_checksum: ChecksumMode = ChecksumMode.PSEUDO_HEADER  # IPv4 only; IPv6 always has it

    @property
    def interval_cs(self) -> int:
        """The interval as VRRPv3 sends it, in centiseconds."""
        return round(self.interval * 100)

    @property
    def vrrp(self) -> bool:
        return self.protocol is Protocol.VRRP3

    def __post_init__(self) -> None:
        for field, allowed in SETTING_RANGES.items():
            value = getattr(self, field)
            if not allowed.contains(value):
                raise SettingsError(field, value, allowed.allowed())
        if not isinstance(self.demote_on_wire, DemoteOnWire):
            allowed = " or ".join(repr(m.value) for m in DemoteOnWire)
            raise SettingsError("demote_on_wire", self.demote_on_wire, allowed)
        if self.demote_on_wire is DemoteOnWire.BYTE and not self.honour_demote_byte:
            raise SettingsError(
                "honour_demote_byte", False, "true when the demotion is sent in the byte"
            )
        if self.vrrp:
            self._check_vrrp()
        if not self.passphrase and not self.vrrp:
            raise SettingsError("passphrase", "", f"1 to {KEY_LEN} bytes")
        if len(self.passphrase) > KEY_LEN:
            raise SettingsError(
                "passphrase", f"<{len(self.passphrase)} bytes>", f"at most {KEY_LEN} bytes"
            )
        if not self.addresses:
            raise SettingsError("addresses", (), "at least one address")
        for address in self.addresses:
            if not isinstance(address, ipaddress.IPv4Address | ipaddress.IPv6Address):
                raise SettingsError("addresses", address, "IPv4 or IPv6 addresses")
        if len(set(self.addresses)) != len(self.addresses):
            raise SettingsError("addresses", self.addresses, "each address once")

    def _check_vrrp(self) -> None:
        """VRRPv3's own rules beyond the ranges: the interval's 0.01 s steps, no key, one
        family per advert, sent from our address."""
        if not whole_centiseconds(self.interval):
            raise SettingsError("interval", self.interval, INTERVAL_ALLOWED)
        if self.passphrase:
            raise SettingsError("passphrase", "<given>", "none: VRRPv3 has no authentication")
        if self.source is None:
            raise SettingsError("source", None, "this host's address: VRRPv3 adverts name it")
        if len(self.addresses) > MAX_ADDRESSES:
            raise SettingsError("addresses", len(self.addresses), f"at most {MAX_ADDRESSES}")
        family = self.source.version
        for address in self.addresses:
            if address.version != family:
                raise SettingsError(
                    "addresses",
                    str(address),
                    f"IPv{family} addresses like the source {self.source}: "
                    "a VRRPv3 group is one family",
                )
        if not self.multicast:
            raise SettingsError("destination", "unicast", "multicast only in VRRPv3 mode")

    def __repr__(self) -> str:  # never show the passphrase, even in a traceback
        shown = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        shown["passphrase"] = "<hidden>"  # noqa: S105 - a placeholder, not a secret
        inner = ", ".join(f"{k}={v!r}" for k, v in shown.items())
        return f"GroupSettings({inner})"
