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

MAX_CONFIG_ADVSKEW = 254  # 255 is reserved for the bow-out advert
DEFAULT_DEMOTION_FACTOR = MAX_WIRE_ADVSKEW  # FreeBSD ifdown/senderr_demotion_factor
SEND_ERRORS_TO_DEMOTE = 3  # FreeBSD: three consecutive send errors demote, three successes undo


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


def _check_range(field: str, value: int, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise SettingsError(field, value, f"an integer from {low} to {high}")


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

    def __post_init__(self) -> None:
        _check_range("vhid", self.vhid, 1, 255)
        _check_range("advbase", self.advbase, 0, 255)
        _check_range("advskew", self.advskew, 0, MAX_CONFIG_ADVSKEW)
        _check_range("dead_ratio", self.dead_ratio, 1, 255)
        _check_range("senderr_demotion", self.senderr_demotion, 0, MAX_WIRE_ADVSKEW)
        if not isinstance(self.demote_on_wire, DemoteOnWire):
            allowed = " or ".join(repr(m.value) for m in DemoteOnWire)
            raise SettingsError("demote_on_wire", self.demote_on_wire, allowed)
        if self.demote_on_wire is DemoteOnWire.BYTE and not self.honour_demote_byte:
            raise SettingsError(
                "honour_demote_byte", False, "true when the demotion is sent in the byte"
            )
        if not self.passphrase:
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

    def __repr__(self) -> str:  # never show the passphrase, even in a traceback
        shown = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        shown["passphrase"] = "<hidden>"  # noqa: S105 - a placeholder, not a secret
        inner = ", ".join(f"{k}={v!r}" for k, v in shown.items())
        return f"GroupSettings({inner})"
