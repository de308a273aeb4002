"""CARP's half of a group machine, as :mod:`pycarp.core.vrrp` is VRRPv3's.

The machine (states, table, timers, demotion) is the same for both protocols; what differs is
how an advert is checked and judged, and how ours is built. For CARP that is the digest and
replay checks, the election by timing and OpenBSD's demote byte, and our counter and digest.
"""

from __future__ import annotations

from pycarp.core import events as ev
from pycarp.core import wire
from pycarp.core.actions import SendAdvertisement
from pycarp.core.auth import Signer
from pycarp.core.election import VERDICT_INPUT, Verdict, judge, last_resort
from pycarp.core.receive import Receiver
from pycarp.core.replay import RandomSource
from pycarp.core.settings import GroupSettings
from pycarp.core.stats import DropReason
from pycarp.core.table import Input
from pycarp.core.timing import (
    BOW_OUT_ADVBASE,
    BOW_OUT_ADVSKEW,
    SUB_SECOND_ADVBASE,
    advertisement_interval,
    master_down_interval,
)
from pycarp.core.vrrp import Heard


class CarpRules:
    """Check and judge CARP adverts; build ours. ``last_timing``/``last_demote``: the valid
    advert heard last (what the status shows, and what the last-resort rule compares)."""

    def __init__(
        self, settings: GroupSettings, signer: Signer, receiver: Receiver, rng: RandomSource
    ) -> None:
        self._settings = settings
        self._signer = signer
        self._receiver = receiver
        self._rng = rng
        self._counter: int | None = None  # None until we have sent
        self.last_timing: tuple[int, int] | None = None  # (advbase, advskew)
        self.last_demote = 0  # OpenBSD's demote count; 0 from FreeBSD, ucarp

    def heard(self, packet: ev.PacketReceived, *, master: bool, advskew: int, demote: int) -> Heard:
        """Our ``advskew`` and ``demote`` are what we send. :class:`wire.DecodeError` for an
        advert to drop (having jumped our count ahead if it carried a counter we sent)."""
        settings = self._settings
        try:
            adv = self._receiver.accept(packet, master=master)
        except wire.DecodeError as error:
            if error.reason is DropReason.OWN_COUNTER:
                self._jump_ahead()
            raise
        self.last_timing = (adv.advbase, adv.advskew)
        self.last_demote = adv.demote if settings.honour_demote_byte else 0
        verdict = judge(
            our_advbase=settings.advbase,
            our_advskew=advskew,
            peer_advbase=adv.advbase,
            peer_advskew=adv.advskew,
            dead_ratio=settings.dead_ratio,
            our_address=settings.source,
            peer_address=packet.source,
            our_demote=demote,
            peer_demote=self.last_demote,
        )
        shown_demote = f", demote {adv.demote}" if adv.demote or demote else ""
        said = (
            f"advert from {packet.source} (advbase {adv.advbase}, advskew {adv.advskew}"
            f"{shown_demote}) is {verdict.value.replace('_', ' ')}"
        )
        if verdict is not Verdict.SLOWER:
            return Heard(VERDICT_INPUT[verdict], said, None)
        # The preempt guard, resolved here into an input of its own so the table shows it.
        if settings.preempt:
            return Heard(Input.ADV_SLOWER_PREEMPT, f"preempting: {said}", None)
        if last_resort(
            self.last_timing, advskew, master_demote=self.last_demote, our_demote=demote
        ):
            reason = f"the master is only a last resort: {said}"
            return Heard(Input.ADV_SLOWER_PREEMPT, reason, None)
        return Heard(Input.ADV_SLOWER, said, None)

    def master_down_interval(self, advskew: int) -> float:
        """Ours (FreeBSD's formula; OpenBSD's at advbase 0), but at advbase 0 never shorter than
        ``dead_ratio`` intervals of the master we last heard (as VRRPv3 learns the master's
        interval). OpenBSD waits 3 of its *own* intervals, so a backup with a much smaller
        advskew times out between a slow master's adverts: it preempts without preempt, and
        when the demote byte makes it lose, it claims and yields again every few intervals."""
        settings = self._settings
        own = master_down_interval(settings.advbase, advskew, settings.dead_ratio)
        heard = self.last_timing
        if settings.advbase != SUB_SECOND_ADVBASE or heard is None:
            return own
        if heard == (BOW_OUT_ADVBASE, BOW_OUT_ADVSKEW):
            return own
        return max(own, settings.dead_ratio * advertisement_interval(*heard))

    def _jump_ahead(self) -> None:
        """We heard a counter we sent: a replay of our advert, or a FreeBSD/ucarp master that
        took over during a partition by continuing our count (its counters trail ours by a
        few). Jumping ahead lets such a peer, which adopts the counters it hears, part ways
        with us: its next advert carries a counter we never sent and the election goes on."""
        assert self._counter is not None  # we sent it, so we have a counter
        self._counter = (self._counter + self._receiver.replay.jump(self._rng)) % 2**64

    def send(self, *, bow_out: bool, advskew: int, demote: int) -> SendAdvertisement:
        """Our next advert (``advskew``, ``demote``: what to put on the wire unless bowing out).

        A random start, then one more per advert, for the life of the group. FreeBSD and ucarp
        continue the count of the last master they heard instead; we do not: a backup that
        takes over because the master's adverts were lost to it would send the very counters
        the master (still alive) sends, and receivers that heard both would take one for a
        replay (see pycarp.core.replay). No implementation checks continuity.
        """
        if self._counter is None:
            counter = self._counter = self._rng.getrandbits(64)
        else:
            counter = self._counter = (self._counter + 1) % 2**64
        self._receiver.replay.record_sent(counter)
        advbase = BOW_OUT_ADVBASE if bow_out else self._settings.advbase
        advskew = BOW_OUT_ADVSKEW if bow_out else advskew
        adv = wire.Advertisement(
            vhid=self._settings.vhid,
            advbase=advbase,
            advskew=advskew,
            counter=counter,
            digest=self._signer.sign(counter.to_bytes(8, "big")),
            demote=demote,
        )
        return SendAdvertisement(
            payload=wire.encode(adv),
            advbase=advbase,
            advskew=advskew,
            counter=counter,
            bow_out=bow_out,
        )
