"""The per-vhid CARP state machine: the one stateful object of the core.

``handle(event, now)`` maps the event to a table :class:`~pycarp.core.table.Input`, runs the
:class:`~pycarp.core.table.Step` the table names and returns the actions the runtime must carry
out, in order. ``next_deadline`` is the single absolute time (monotonic seconds) at which the
runtime must feed :class:`~pycarp.core.events.TimerExpired`; ``None`` means no timer.

Network input never raises: it becomes a :class:`PacketDropped` action and a counter. Local
misuse (time going backwards) raises :class:`TimeWentBackwards`.
"""

from __future__ import annotations

from pycarp.core import events as ev
from pycarp.core import wire
from pycarp.core.actions import (
    Action,
    AddressListMismatch,
    Announce,
    ClaimAddresses,
    Hook,
    PacketDropped,
    ReleaseAddresses,
    RunHook,
    SendAdvertisement,
    State,
    StateChanged,
)
from pycarp.core.auth import IPAddress, Signer
from pycarp.core.election import Verdict, judge
from pycarp.core.receive import Receiver
from pycarp.core.replay import RandomSource
from pycarp.core.settings import SEND_ERRORS_TO_DEMOTE, GroupSettings
from pycarp.core.stats import DropReason
from pycarp.core.table import CAUSES, TRANSITIONS, Input, Step
from pycarp.core.timing import (
    BOW_OUT_ADVBASE,
    BOW_OUT_ADVSKEW,
    MAX_WIRE_ADVSKEW,
    SKEW_UNIT,
    advertisement_interval,
    master_down_interval,
    wire_advskew,
)
from pycarp.core.vrrp import VRRP_TRANSITIONS, VrrpRules

ANNOUNCE_REPEAT_AFTER = 2  # ucarp re-announces two adverts after taking over


class TimeWentBackwards(RuntimeError):
    """``now`` was smaller than a previous ``now``: the caller is not using a monotonic clock."""


_VERDICT_INPUT = {
    Verdict.FASTER: Input.ADV_FASTER,
    Verdict.EQUAL_PEER_WINS: Input.ADV_EQUAL_PEER_WINS,
    Verdict.EQUAL_WE_WIN: Input.ADV_EQUAL_WE_WIN,
    Verdict.SLOWER: Input.ADV_SLOWER,
    Verdict.DEPARTING: Input.ADV_DEPARTING,
}

_SIMPLE_INPUT: dict[type[ev.Event], Input] = {
    ev.Started: Input.STARTED,
    ev.TimerExpired: Input.TIMER,
    ev.DemotionChanged: Input.DEMOTION,
    ev.ShutdownRequested: Input.SHUTDOWN,
    ev.HandOverRequested: Input.HAND_OVER,
}


class GroupMachine:
    """One CARP group (vhid) on one interface."""

    def __init__(self, settings: GroupSettings, rng: RandomSource) -> None:
        self.settings = settings
        self.state = State.INIT
        self.next_deadline: float | None = None
        self.last_master: IPAddress | None = None  # source of the last valid advert heard
        self.last_timing: tuple[int, int] | None = None  # its (advbase, advskew)
        self.adverts_received = 0  # valid adverts (for the status view)
        self._cause = ""
        self._rng = rng
        self._signer = Signer(
            settings.passphrase, settings.vhid, settings.addresses, settings.signature_mode
        )
        self._receiver = Receiver(settings, self._signer)
        self.stats = self._receiver.stats
        self.replay = self._receiver.replay
        self._running = False
        self._host_demotion = 0
        self._send_failures = 0
        self._send_successes = 0
        self._senderr_demoted = False
        self._counter: int | None = None  # None until a valid advert has been received
        self._adverts_as_master = 0
        self._last_now = float("-inf")
        self._pending_drop: PacketDropped | None = None
        self._pending_verdict_reason = ""
        self._expedited_by = ""  # why the master-down timer was cut short (a bow-out), if it was
        # VRRPv3 groups: the rules where VRRP differs from CARP (None: a CARP group).
        self.vrrp = VrrpRules(settings, self.stats) if settings.vrrp else None
        self._rows = TRANSITIONS if self.vrrp is None else VRRP_TRANSITIONS
        self._started_at = 0.0
        self._pending_mismatch: AddressListMismatch | None = None

    # -- what the runtime and the status view read ------------------------------------------

    @property
    def demotion(self) -> int:
        extra = self.settings.senderr_demotion if self._senderr_demoted else 0
        return self._host_demotion + extra

    @property
    def host_demotion(self) -> int:
        """The demotion the host last gave us (without our own send-error demotion)."""
        return self._host_demotion

    @property
    def advskew_on_wire(self) -> int:
        return wire_advskew(self.settings.advskew, self.demotion)

    @property
    def advertisement_interval(self) -> float:
        if self.vrrp is not None:
            return self.vrrp.advertisement_interval()
        return advertisement_interval(self.settings.advbase, self.advskew_on_wire)

    @property
    def master_down_interval(self) -> float:
        if self.vrrp is not None:
            return self.vrrp.master_down_interval(self.demotion)
        return master_down_interval(
            self.settings.advbase, self.advskew_on_wire, self.settings.dead_ratio
        )

    # -- the one entry point -----------------------------------------------------------------

    def handle(self, event: ev.Event, now: float) -> list[Action]:
        if now < self._last_now:
            raise TimeWentBackwards(f"now={now} after now={self._last_now}")
        self._last_now = now
        if self._judged_as_paused(event) and self.timer_overdue(now):
            return self._handle_stalled(event, now)
        inp = self._input_for(event, now)
        if inp is None:  # a timer wake-up before the deadline: nothing is due yet
            return []
        return self._run(self._rows[(self.state, inp)], inp, event, now)

    def _handle_stalled(self, event: ev.Event, now: float) -> list[Action]:
        """Apply the STALLED row, then the event itself in the state that leaves us in.

        One exception: a master whose packet would, as a backup, make it master again at once
        (a departing peer, or a slower one with preempt on) would step down only to take over
        again in the same breath; it keeps its role and answers as a master instead.
        """
        inp = self._input_for(event, now) if isinstance(event, ev.PacketReceived) else None
        if inp is Input.PACKET_INVALID:  # garbage says nothing about who is master now
            return self._run(self._rows[(self.state, inp)], inp, event, now)
        verdict_reason = self._pending_verdict_reason
        keeps_role = self.state is State.MASTER and inp is not None and self._retakes(inp)
        actions: list[Action] = []
        if not keeps_role:
            lateness = now - (self.next_deadline or now)
            self._pending_verdict_reason = f"paused: our timer fired {lateness:.1f} s late"
            actions = self._run(self._rows[(self.state, Input.STALLED)], Input.STALLED, event, now)
        if inp is None:  # the timer: the STALLED row has re-armed it, nothing else is due
            return actions
        self._pending_verdict_reason = verdict_reason
        return actions + self._run(self._rows[(self.state, inp)], inp, event, now)

    def _retakes(self, inp: Input) -> bool:
        """Would this input make a BACKUP master at once (or after its own skew only)?"""
        step = self._rows[(State.BACKUP, inp)]
        return step in (Step.BECOME_MASTER, Step.EXPEDITE) or (
            step is Step.PREEMPT_OR_RESTART
            and (self.settings.preempt or self._master_is_last_resort())
        )

    def _master_is_last_resort(self) -> bool:
        """The master advertises the demotion ceiling (maintenance, a failed health track, a
        dead link elsewhere) and we do not: it holds the addresses only because nobody better
        was there, so a healthy backup takes over even without preempt. Otherwise a node that
        took over as the last resort would keep the addresses after a healthy one came back."""
        timing = self.last_timing
        return (
            timing is not None
            and timing[1] >= MAX_WIRE_ADVSKEW
            and self.advskew_on_wire < MAX_WIRE_ADVSKEW
        )

    @property
    def stall_threshold(self) -> float:
        """How late a deadline may be before we assume the process was paused.

        A master silent for ``dead_ratio * advbase`` may already have been replaced, so a
        timer that much overdue (less the interval already waited) means our view is stale. A
        healthy event loop is late by milliseconds; at least one advbase is always tolerated.
        """
        if self.vrrp is not None:
            return self.vrrp.stall_threshold()
        return max(self.settings.dead_ratio - 1, 1) * self.settings.advbase

    @staticmethod
    def _judged_as_paused(event: ev.Event) -> bool:
        """Only our own timer's lateness tells that we were paused (and the packets its
        callback read first, which waited in the socket meanwhile). A packet arriving late
        says nothing about us: under a flood it would read packet arrival as a pause."""
        return isinstance(event, ev.TimerExpired) or (
            isinstance(event, ev.PacketReceived) and event.queued
        )

    def timer_overdue(self, now: float) -> bool:
        """Our deadline passed longer ago than :attr:`stall_threshold`: we were paused."""
        deadline = self.next_deadline
        return deadline is not None and now - deadline > self.stall_threshold

    def _input_for(self, event: ev.Event, now: float) -> Input | None:
        match event:
            case ev.PacketReceived():
                return self._classify_packet(event, now)
            case ev.SendCompleted(ok=ok, error=error):
                return Input.SEND_BROKEN if not ok and error else Input.SEND_RESULT
            case ev.LinkChanged(up=up):
                return Input.LINK_UP if up else Input.LINK_DOWN
            case ev.AdminForced(state=forced):
                return Input.FORCE_MASTER if forced is ev.ForcedState.MASTER else Input.FORCE_BACKUP
            case ev.TimerExpired():
                if self.next_deadline is None or now < self.next_deadline:
                    return None
                return Input.TIMER
            case _:
                return _SIMPLE_INPUT[type(event)]

    def _classify_packet(self, packet: ev.PacketReceived, now: float) -> Input:
        """Validate, then remember either the drop or the election verdict for the step."""
        self._pending_drop = None
        if self.vrrp is not None:
            return self._classify_vrrp(self.vrrp, packet, now)
        try:
            adv = self._receiver.accept(packet, master=self.state is State.MASTER)
        except wire.DecodeError as error:
            if error.reason is DropReason.OWN_COUNTER:
                self._jump_ahead()
            self._pending_drop = self._receiver.dropped(error, packet, now)
            return Input.PACKET_INVALID
        self.last_master = packet.source
        self.last_timing = (adv.advbase, adv.advskew)
        self.adverts_received += 1
        verdict = judge(
            our_advbase=self.settings.advbase,
            our_advskew=self.advskew_on_wire,
            peer_advbase=adv.advbase,
            peer_advskew=adv.advskew,
            dead_ratio=self.settings.dead_ratio,
            our_address=self.settings.source,
            peer_address=packet.source,
        )
        self._pending_verdict_reason = (
            f"advert from {packet.source} (advbase {adv.advbase}, advskew {adv.advskew}) is "
            f"{verdict.value.replace('_', ' ')}"
        )
        return _VERDICT_INPUT[verdict]

    def _classify_vrrp(self, rules: VrrpRules, packet: ev.PacketReceived, now: float) -> Input:
        """The VRRPv3 receive path: the same drops and verdicts, priority instead of timing."""
        self._pending_mismatch = None
        try:
            adv = rules.accept(packet)
        except wire.DecodeError as error:
            self._pending_drop = self._receiver.dropped(error, packet, now)
            return Input.PACKET_INVALID
        theirs = rules.address_mismatch(adv, packet.source)
        if theirs is not None:
            self._pending_mismatch = AddressListMismatch(
                source=packet.source, theirs=theirs, ours=self.settings.addresses
            )
        self.last_master = packet.source
        self.adverts_received += 1
        verdict = rules.judge(adv, packet.source, self.demotion, master=self.state is State.MASTER)
        self._pending_verdict_reason = (
            f"advert from {packet.source} (priority {adv.priority}, interval "
            f"{adv.interval:.2f} s) is {verdict.value.replace('_', ' ')}"
        )
        return _VERDICT_INPUT[verdict]

    def _jump_ahead(self) -> None:
        """We heard a counter we sent: a replay of our advert, or a FreeBSD/ucarp master that
        took over during a partition by continuing our count (its counters trail ours by a
        few). Jumping ahead lets such a peer, which adopts the counters it hears, part ways
        with us: its next advert carries a counter we never sent and the election goes on."""
        assert self._counter is not None  # we sent it, so we have a counter
        self._counter = (self._counter + self.replay.jump(self._rng)) % 2**64

    # -- the steps ---------------------------------------------------------------------------

    def _run(self, step: Step, inp: Input, event: ev.Event, now: float) -> list[Action]:
        if self._pending_mismatch is not None:
            mismatch, self._pending_mismatch = self._pending_mismatch, None
            return [mismatch, *self._run(step, inp, event, now)]
        self._cause = "bow_out" if inp is Input.TIMER and self._expedited_by else CAUSES[inp]
        match step:
            case Step.IGNORE:
                return []
            case Step.DROP:
                assert self._pending_drop is not None
                return [self._pending_drop]
            case Step.UPDATE_DEMOTION:
                assert isinstance(event, ev.DemotionChanged)
                self._host_demotion = event.demotion
                return []
            case Step.COUNT_SEND_RESULT:
                assert isinstance(event, ev.SendCompleted)
                self._count_send_result(event.ok)
                return []
            case Step.START:
                assert isinstance(event, ev.Started)
                return self._start(event.link_up, now)
            case Step.JOIN:
                return self._enter_backup(now, "carrier up") if self._running else []
            case Step.RESTART_MASTER_DOWN:
                self.next_deadline = now + self.master_down_interval
                self._expedited_by = ""
                return []
            case Step.PREEMPT_OR_RESTART if self.vrrp is not None:
                if self.vrrp.preempts(self._started_at, now):
                    return []  # RFC 9568: discard it, so our timer runs out and we take over
                self.next_deadline = now + self.master_down_interval
                return []
            case Step.PREEMPT_OR_RESTART:
                if self.settings.preempt:
                    return self._become_master(now, f"preempting: {self._pending_verdict_reason}")
                if self._master_is_last_resort():
                    reason = f"the master is only a last resort: {self._pending_verdict_reason}"
                    return self._become_master(now, reason)
                self.next_deadline = now + self.master_down_interval
                return []
            case Step.EXPEDITE:
                skew = (
                    self.advskew_on_wire / SKEW_UNIT
                    if self.vrrp is None
                    else self.vrrp.skew(self.demotion)
                )
                if skew == 0:
                    return self._become_master(
                        now, _master_reason(inp, self._pending_verdict_reason)
                    )
                self.next_deadline = now + skew
                self._expedited_by = self._pending_verdict_reason
                return []
            case Step.BECOME_MASTER if inp is Input.TIMER and self._expedited_by:
                return self._become_master(now, f"after our skew: {self._expedited_by}")
            case Step.BECOME_MASTER:
                return self._become_master(now, _master_reason(inp, self._pending_verdict_reason))
            case Step.ADVERTISE:
                return self._advertise(now)
            case Step.STEP_DOWN:
                return self._step_down(now, self._pending_verdict_reason)
            case Step.YIELD:
                last_word = self._advertise(now)
                return [*last_word, *self._step_down(now, self._pending_verdict_reason)]
            case Step.REASSERT:
                return [*self._advertise(now), Announce(repeat=1)]
            case Step.LINK_LOST:
                return self._leave(State.INIT, "carrier lost", bow_out=False)
            case Step.DISABLE:
                assert isinstance(event, ev.SendCompleted)
                self._running = False
                return self._leave(
                    State.INIT, f"cannot send advertisements: {event.error}", bow_out=False
                )
            case Step.HAND_OVER:
                reason = (
                    event.reason if isinstance(event, ev.HandOverRequested) else "forced to backup"
                )
                last_word = self._advertise(now, bow_out=True)
                return [*last_word, *self._step_down(now, reason)]
            case Step.STOP:  # pragma: no branch - the match is exhaustive (mypy checks it)
                self._running = False
                return self._leave(State.INIT, "shutting down", bow_out=True)

    def _count_send_result(self, ok: bool) -> None:
        if ok:
            self._send_failures = 0
            self._send_successes += 1
            if self._send_successes >= SEND_ERRORS_TO_DEMOTE:
                self._senderr_demoted = False
        else:
            self._send_successes = 0
            self._send_failures += 1
            if self._send_failures >= SEND_ERRORS_TO_DEMOTE:
                self._senderr_demoted = True

    def _change(self, new: State, reason: str) -> StateChanged:
        old, self.state = self.state, new
        return StateChanged(old=old, new=new, reason=reason, cause=self._cause)

    def _start(self, link_up: bool, now: float) -> list[Action]:
        self._running = True
        self._started_at = now
        # Stale addresses left by a crash are removed whatever happens next; ucarp runs its
        # down script at start-up unless --neutral.
        actions: list[Action] = [ReleaseAddresses()]
        if not self.settings.neutral:
            actions.append(RunHook(hook=Hook.DOWN))
        if link_up:
            actions[:0] = self._enter_backup(now, "started")
        return actions

    def _enter_backup(self, now: float, reason: str) -> list[Action]:
        if self.vrrp is not None and self.state is State.INIT:  # the owner takes over at once
            self.next_deadline = now + self.vrrp.start_wait(self.demotion)
        else:
            self.next_deadline = now + self.master_down_interval
        return [self._change(State.BACKUP, reason)]

    def _become_master(self, now: float, reason: str) -> list[Action]:
        self._adverts_as_master = 0
        self._expedited_by = ""
        return [
            self._change(State.MASTER, reason),
            ClaimAddresses(),
            *self._advertise(now),
            Announce(),
            RunHook(hook=Hook.UP),
        ]

    def _advertise(self, now: float, *, bow_out: bool = False) -> list[Action]:
        if self.vrrp is not None:  # no counter, no digest: VRRPv3 has no authentication
            send = SendAdvertisement(
                payload=self.vrrp.advert(self.demotion, release=bow_out),
                advbase=0,
                advskew=0,
                counter=0,
                bow_out=bow_out,
                priority=0 if bow_out else self.vrrp.priority(self.demotion),
            )
            return self._after_send(send, now)
        # A random start, then one more per advert, for the life of the group. FreeBSD and
        # ucarp continue the count of the last master they heard instead; we do not: a backup
        # that takes over because the master's adverts were lost to it would send the very
        # counters the master (still alive) sends, and receivers that heard both would take
        # one for a replay (see pycarp.core.replay). No implementation checks continuity.
        if self._counter is None:
            counter = self._counter = self._rng.getrandbits(64)
        else:
            counter = self._counter = (self._counter + 1) % 2**64
        self.replay.record_sent(counter)
        advbase = BOW_OUT_ADVBASE if bow_out else self.settings.advbase
        advskew = BOW_OUT_ADVSKEW if bow_out else self.advskew_on_wire
        adv = wire.Advertisement(
            vhid=self.settings.vhid,
            advbase=advbase,
            advskew=advskew,
            counter=counter,
            digest=self._signer.sign(counter.to_bytes(8, "big")),
        )
        send = SendAdvertisement(
            payload=wire.encode(adv),
            advbase=advbase,
            advskew=advskew,
            counter=counter,
            bow_out=bow_out,
        )
        return self._after_send(send, now)

    def _after_send(self, send: SendAdvertisement, now: float) -> list[Action]:
        """The advert, the next one armed, and ucarp's repeated announcement after two."""
        actions: list[Action] = [send]
        if not send.bow_out:
            self.next_deadline = now + self.advertisement_interval
            self._adverts_as_master += 1
            if self._adverts_as_master == ANNOUNCE_REPEAT_AFTER + 1:
                actions.append(Announce(repeat=1))
        return actions

    def _step_down(self, now: float, reason: str) -> list[Action]:
        return [
            *self._enter_backup(now, reason),
            ReleaseAddresses(),
            RunHook(hook=Hook.DOWN),
        ]

    def _leave(self, new: State, reason: str, *, bow_out: bool) -> list[Action]:
        was_master = self.state is State.MASTER
        actions: list[Action] = []
        if was_master and bow_out:
            actions += self._advertise(0.0, bow_out=True)
        self.next_deadline = None
        if self.state is not new:
            actions.insert(0, self._change(new, reason))
        if was_master:
            actions += [ReleaseAddresses(), RunHook(hook=Hook.DOWN)]
        return actions


def _master_reason(inp: Input, verdict_reason: str) -> str:
    if inp is Input.TIMER:
        return "master-down timer expired"
    if inp is Input.FORCE_MASTER:
        return "forced to master"
    return f"master will time out: {verdict_reason}"
