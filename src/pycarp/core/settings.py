"""What one CARP group (one vhid on one interface) is configured to be, validated.

This is the core's view of the configuration: protocol values only. Where the daemon runs it,
which scripts it calls and how addresses get installed live in :mod:`pycarp.config`.
Out-of-range values raise :class:`SettingsError`, naming the field, the value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import enum
import ipaddress

from pycarp.core.auth import KEY_LEN, IPAddress, SignatureMode
from pycarp.core.timing import MAX_WIRE_ADVSKEW
from pycarp.core.vrrpwire import MAX_ADDRESSES, MAX_INTERVAL_CS, ChecksumMode

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


class SettingsError(ValueError):
    """A configuration value is out of range: ``field``, ``value`` and ``allowed`` say which."""

    def __init__(self, field: str, value: object, allowed: str) -> None:
        super().__init__(f"{field}: {value!r} is not allowed ({allowed})")
        self.field = field
        self.value = value
        self.allowed = allowed


def _check_range(field: str, value: int, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise SettingsError(field, value, f"an integer from {low} to {high}")


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class GroupSettings:
    """Protocol settings of one group. ``source`` is our own address on the interface.

    ``multicast`` False means unicast to a peer: the TTL check is skipped, as FreeBSD does.
    ``neutral`` is ucarp's ``--neutral``: do not run the down hook on start-up.
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
        if self.vrrp:
            self._check_vrrp()
        _check_range("vhid", self.vhid, 1, 255)
        _check_range("advbase", self.advbase, 1, 255)
        _check_range("advskew", self.advskew, 0, MAX_CONFIG_ADVSKEW)
        _check_range("dead_ratio", self.dead_ratio, 1, 255)
        _check_range("senderr_demotion", self.senderr_demotion, 0, MAX_WIRE_ADVSKEW)
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
        """VRRPv3's own rules: ranges, no key, one family per advert, sent from our address."""
        _check_range("priority", self.priority, 1, 255)
        centiseconds = self.interval * 100 if isinstance(self.interval, int | float) else -1
        if (
            isinstance(self.interval, bool)
            or not 1 <= centiseconds <= MAX_INTERVAL_CS
            or abs(centiseconds - round(centiseconds)) > CENTISECOND_SLACK
        ):
            raise SettingsError("interval", self.interval, INTERVAL_ALLOWED)
        if not 0 <= self.preempt_delay <= MAX_PREEMPT_DELAY:
            raise SettingsError(
                "preempt_delay", self.preempt_delay, f"seconds from 0 to {MAX_PREEMPT_DELAY:g}"
            )
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
