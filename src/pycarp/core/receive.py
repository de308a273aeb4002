"""The receive path of one group: is this packet a valid advertisement for us?

Checks run cheapest first, in FreeBSD's order (TTL, length, checksum, vhid, loop, version, digest;
the codec covers length to version), so a flood of garbage costs as little as possible and the
expensive HMAC runs only on packets that could be ours. Every failure is a
:class:`~pycarp.core.wire.DecodeError` naming the :class:`~pycarp.core.stats.DropReason` the
machine counts; nothing else escapes.
"""

from __future__ import annotations

from pycarp.core import events as ev
from pycarp.core import wire
from pycarp.core.actions import PacketDropped
from pycarp.core.auth import Signer
from pycarp.core.constants import CARP_TTL
from pycarp.core.replay import ReplayGuard
from pycarp.core.settings import GroupSettings
from pycarp.core.stats import DropReason, DropReports, DropStats, Report

MISMATCH = "digest does not verify: passphrase or address set differ"


def validate(
    packet: ev.PacketReceived, settings: GroupSettings, signer: Signer
) -> wire.Advertisement:
    """The decoded advert, or DecodeError with the reason it must be dropped.

    The digest is checked on the raw bytes before anything is decoded, and a mismatch is not
    explained here (that costs one more HMAC per address): the machine asks
    :meth:`~pycarp.core.auth.Signer.explain_mismatch` only for drops it will report.
    """
    if settings.multicast and packet.ttl != CARP_TTL:
        raise wire.DecodeError(DropReason.BAD_TTL, f"TTL {packet.ttl}, must be 255")
    payload = wire.check(packet.payload)
    if payload[1] != settings.vhid:
        raise wire.DecodeError(
            DropReason.BAD_VHID, f"vhid {payload[1]}, this group is {settings.vhid}"
        )
    if packet.source == settings.source:
        raise wire.DecodeError(DropReason.OWN_PACKET, "our own advertisement")
    if not signer.verify(wire.counter_bytes(payload), wire.digest(payload)):
        raise wire.DecodeError(DropReason.BAD_AUTH, MISMATCH)
    return wire.decode(payload)


# A drop that is only counted carries nothing but its reason: one shared action per reason,
# so a flood allocates nothing per forged packet beyond what the check itself needs.
_COUNTED_ONLY = {reason: PacketDropped(reason=reason, detail="") for reason in DropReason}


class Receiver:
    """One group's receive path: validation, replay checks, drop counters and reports."""

    __slots__ = ("_reports", "_settings", "_signer", "replay", "stats")

    def __init__(self, settings: GroupSettings, signer: Signer) -> None:
        self._settings = settings
        self._signer = signer
        self.stats = DropStats()
        self.replay = ReplayGuard()
        self._reports = DropReports()

    def accept(self, packet: ev.PacketReceived, *, master: bool) -> wire.Advertisement:
        """The advert, remembered as accepted; or DecodeError, counted (see :meth:`dropped`)."""
        try:
            adv = validate(packet, self._settings, self._signer)
            self._check_counter(adv.counter, packet, master=master)
        except wire.DecodeError as error:
            self.stats.count(error.reason)
            raise
        self.replay.record_accepted(adv.counter, packet.source)
        return adv

    def _check_counter(self, counter: int, packet: ev.PacketReceived, *, master: bool) -> None:
        """Replays of a valid advert (see :mod:`pycarp.core.replay`). A peer that repeats its
        own counter (OpenBSD's constant cookie) is never a replay; our own counter heard back
        always is, for a master."""
        if master and self.replay.is_ours(counter):
            raise wire.DecodeError(
                DropReason.OWN_COUNTER, f"counter {counter} is one we sent: a replay or a loop"
            )
        stale = self.replay.stale_run(counter, packet.source)
        if stale is not None:
            raise wire.DecodeError(
                DropReason.REPLAY,
                f"counter {counter} belongs to what {stale.source} counted "
                f"(up to {stale.last}): a replay",
            )

    def dropped(
        self, error: wire.DecodeError, packet: ev.PacketReceived, now: float
    ) -> PacketDropped:
        """Explain a drop only when it will be reported: explaining a digest mismatch costs an
        HMAC per address, and a flood must not make every forged packet dearer."""
        report = self._reports.classify(error.reason, packet.source, now)
        if report is Report.SEEN or report is Report.SILENT:
            return _COUNTED_ONLY[error.reason]
        detail = error.detail
        if error.reason is DropReason.BAD_AUTH:
            payload = bytes(packet.payload[: wire.PAYLOAD_LEN])
            hint = self._signer.explain_mismatch(wire.counter_bytes(payload), wire.digest(payload))
            detail = hint or detail
        if report is Report.LIMIT:
            detail += " (many senders dropped: further ones are counted, not reported)"
        return PacketDropped(
            reason=error.reason,
            detail=f"from {packet.source}: {detail}",
            source=packet.source,
            report=True,
        )
