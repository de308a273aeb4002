"""The per-vhid CARP state machine: the one stateful object of the core.

``handle(event, now)`` maps the event to a table :class:`~pycarp.core.table.Input`, runs the
:class:`~pycarp.core.table.Step` the table names and returns the actions the runtime must carry
out, in order. ``next_deadline`` is the single absolute time (monotonic seconds) at which the
runtime must feed :class:`~pycarp.core.events.TimerExpired`; ``None`` means no timer.

Network input never raises: it becomes a :class:`PacketDropped` action and a counter. Local
misuse (time going backwards) raises :class:`TimeWentBackwards`.
"""

from __future__ import annotations

import dataclasses

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
    StateChanged,
)
from pycarp.core.auth import Signer
from pycarp.core.carp import CarpRules
from pycarp.core.constants import IPAddress
from pycarp.core.receive import Receiver
from pycarp.core.replay import RandomSource
from pycarp.core.senderrors import SendErrorDemotion
from pycarp.core.settings import DemoteOnWire, GroupSettings
from pycarp.core.stall import judged_as_paused, stall_threshold
from pycarp.core.table import CAUSES, TRANSITIONS, Input, State, Step, Transition
from pycarp.core.timing import (
    SKEW_UNIT,
    advertisement_interval,
    wire_advskew,
)
from pycarp.core.vrrp import VRRP_TRANSITIONS, VrrpRules

MAX_DEMOTE_BYTE = 255  # OpenBSD caps the demote count it sends at one byte

ANNOUNCE_REPEAT_AFTER = 2  # ucarp re-announces two adverts after taking over
ON_SCHEDULE_LATENESS = 0.5  # of an interval: a master's timer this late still keeps its schedule


class TimeWentBackwards(RuntimeError):
    """``now`` was smaller than a previous ``now``: the caller is not using a monotonic clock."""


_SIMPLE_INPUT: dict[type[ev.Event], Input] = {
    ev.TimerExpired: Input.TIMER,
    ev.DemotionChanged: Input.DEMOTION,
    ev.ShutdownRequested: Input.SHUTDOWN,
    ev.HandOverRequested: Input.HAND_OVER,
}


@dataclasses.dataclass(frozen=True, slots=True)
class Classified:
    """An event mapped to its table input, with what the step needs to know about it.

    The check of a packet returns its outcome here (the drop to report, or the election
    verdict in words) instead of leaving it on the machine for the step to pick up.
    """

    input: Input
    reason: str = ""  # for people: why a state change that this input causes happens
    drop: PacketDropped | None = None
    mismatch: AddressListMismatch | None = None  # VRRPv3: said before the step's actions


class GroupMachine:
    """One CARP group (vhid) on one interface."""

    def __init__(self, settings: GroupSettings, rng: RandomSource) -> None:
        self.settings = settings
        self.state = State.INIT
        self.next_deadline: float | None = None
        self.last_master: IPAddress | None = None  # source of the last valid advert heard
        self.adverts_received = 0  # valid adverts (for the status view)
        self._rng = rng
        self._signer = Signer(
            settings.passphrase, settings.vhid, settings.addresses, settings.signature_mode
        )
        self._receiver = Receiver(settings, self._signer)
        self.stats = self._receiver.stats
        self.replay = self._receiver.replay
        self._running = False
        self._host_demotion = 0
        self._send_errors = SendErrorDemotion()
        self._adverts_as_master = 0
        self._last_now = float("-inf")
        self._expedited_by = ""  # why the master-down timer was cut short (a bow-out), if it was
        # VRRPv3 groups: the rules where VRRP differs from CARP (None: a CARP group), and the
        # table with VRRP's own cells.
        self.vrrp = VrrpRules(settings, self.stats) if settings.vrrp else None
        self.carp = CarpRules(settings, self._signer, self._receiver, rng)
        self._rows = TRANSITIONS if self.vrrp is None else VRRP_TRANSITIONS

    # -- what the runtime and the status view read ------------------------------------------

    @property
    def last_timing(self) -> tuple[int, int] | None:
        """The (advbase, advskew) of the last valid CARP advert heard."""
        return self.carp.last_timing

    @last_timing.setter
    def last_timing(self, timing: tuple[int, int] | None) -> None:
        self.carp.last_timing = timing

    @property
    def last_demote(self) -> int:
        """Its demote byte (OpenBSD's demote count; 0 from FreeBSD and ucarp)."""
        return self.carp.last_demote

    @property
    def demotion(self) -> int:
        extra = self.settings.senderr_demotion if self._send_errors.demoted else 0
        return self._host_demotion + extra

    @property
    def host_demotion(self) -> int:
        """The demotion the host last gave us (without our own send-error demotion)."""
        return self._host_demotion

    @property
    def advskew_on_wire(self) -> int:
        if self.settings.demote_on_wire is DemoteOnWire.BYTE:
            return self.settings.advskew
        return wire_advskew(self.settings.advskew, self.demotion)

    @property
    def demote_on_wire(self) -> int:
        """The demote byte we send (and compare with what we hear): OpenBSD style only."""
        if self.settings.demote_on_wire is DemoteOnWire.BYTE:
            return max(0, min(self.demotion, MAX_DEMOTE_BYTE))
        return 0

    @property
    def advertisement_interval(self) -> float:
        if self.vrrp is not None:
            return self.vrrp.advertisement_interval()
        return advertisement_interval(self.settings.advbase, self.advskew_on_wire)

    @property
    def master_down_interval(self) -> float:
        if self.vrrp is not None:
            return self.vrrp.master_down_interval(self.demotion)
        return self.carp.master_down_interval(self.advskew_on_wire)

    # -- the one entry point -----------------------------------------------------------------

    def handle(self, event: ev.Event, now: float) -> list[Action]:
        if now < self._last_now:
            raise TimeWentBackwards(f"now={now} after now={self._last_now}")
        self._last_now = now
        if judged_as_paused(event) and self.timer_overdue(now):
            return self._handle_stalled(event, now)
        classified = self.classify(event, now)
        if classified is None:  # a timer wake-up before the deadline: nothing is due yet
            return []
        return self._apply(classified, event, now)

    def _apply(self, classified: Classified, event: ev.Event, now: float) -> list[Action]:
        """Run the table cell for this input; a deadline the step set already due (a bow-out
        heard with our own advskew 0) is the TIMER input, run in the same call."""
        inp, armed_before, rows = classified.input, self.next_deadline, self._rows
        actions = self._run(rows[(self.state, inp)].step, classified, event, now)
        if classified.mismatch is not None:
            actions.insert(0, classified.mismatch)
        armed = self.next_deadline
        if inp is not Input.TIMER and armed != armed_before and armed is not None and armed <= now:
            timer = Classified(Input.TIMER)
            actions += self._run(rows[(self.state, Input.TIMER)].step, timer, event, now)
        return actions

    def _handle_stalled(self, event: ev.Event, now: float) -> list[Action]:
        """Apply the STALLED row, then the event itself in the state that leaves us in.

        One exception: a master whose packet would, as a backup, make it master again at once
        (a departing peer, or a slower one we may preempt) would step down only to take over
        again in the same breath; it keeps its role and answers as a master instead.
        """
        packet = self.classify(event, now) if isinstance(event, ev.PacketReceived) else None
        if packet is not None and packet.input is Input.PACKET_INVALID:
            return self._apply(packet, event, now)  # garbage says nothing about who is master
        keeps_role = (
            self.state is State.MASTER
            and packet is not None
            and _retakes(self._rows[(State.BACKUP, packet.input)])
        )
        actions: list[Action] = []
        if not keeps_role:
            lateness = now - (self.next_deadline or now)
            stalled = Classified(Input.STALLED, f"paused: our timer fired {lateness:.1f} s late")
            actions = self._apply(stalled, event, now)
        if packet is None:  # the timer: the STALLED row has re-armed it, nothing else is due
            return actions
        return actions + self._apply(packet, event, now)

    @property
    def stall_threshold(self) -> float:
        if self.vrrp is not None:
            return self.vrrp.stall_threshold()
        settings = self.settings
        return stall_threshold(settings.advbase, settings.dead_ratio, self.advskew_on_wire)

    @property
    def last_now(self) -> float:
        """The latest time the machine was given (-inf before the first event): its clock
        only moves forward."""
        return self._last_now

    def timer_overdue(self, now: float) -> bool:
        """Our deadline passed longer ago than :attr:`stall_threshold`: we were paused."""
        deadline = self.next_deadline
        return deadline is not None and now - deadline > self.stall_threshold

    def classify(self, event: ev.Event, now: float) -> Classified | None:
        """The table input this event is, in our current state (``None``: nothing is due).

        Public so the table test can show that the cells marked unreachable are: no event
        maps to them. Checking a packet updates what we know of the master and the counters.
        """
        match event:
            case ev.PacketReceived():
                return self._check_packet(event, now)
            case ev.Started(link_up=up):
                return Classified(Input.STARTED if up else Input.STARTED_NO_CARRIER, "started")
            case ev.SendCompleted(ok=ok, error=error):
                broken = not ok and error
                return Classified(Input.SEND_BROKEN if broken else Input.SEND_RESULT, error or "")
            case ev.LinkChanged(up=False):
                return Classified(Input.LINK_DOWN, "carrier lost")
            case ev.LinkChanged(up=True):
                return Classified(Input.LINK_UP if self._running else Input.LINK_UP_STOPPED)
            case ev.AdminForced(state=ev.ForcedState.MASTER):
                return Classified(Input.FORCE_MASTER, "forced to master")
            case ev.AdminForced():
                return Classified(Input.FORCE_BACKUP, "forced to backup")
            case ev.TimerExpired():
                if self.next_deadline is None or now < self.next_deadline:
                    return None
                return Classified(Input.TIMER)
            case ev.HandOverRequested(reason=reason):
                return Classified(Input.HAND_OVER, reason)
            case _:
                return Classified(_SIMPLE_INPUT[type(event)])

    def _check_packet(self, packet: ev.PacketReceived, now: float) -> Classified:
        """Validate, then classify (core/carp.py, core/vrrp.py): the drop, or the verdict."""
        master = self.state is State.MASTER
        try:
            if self.vrrp is not None:
                heard = self.vrrp.heard(packet, self.demotion, master=master, now=now)
            else:
                advskew, demote = self.advskew_on_wire, self.demote_on_wire
                heard = self.carp.heard(packet, master=master, advskew=advskew, demote=demote)
        except wire.DecodeError as error:
            return Classified(Input.PACKET_INVALID, drop=self._receiver.dropped(error, packet, now))
        self.last_master = packet.source
        self.adverts_received += 1
        return Classified(heard.input, heard.reason, mismatch=heard.mismatch)

    # -- the steps ---------------------------------------------------------------------------

    def _run(self, step: Step, classified: Classified, event: ev.Event, now: float) -> list[Action]:
        inp, reason = classified.input, classified.reason
        expedited = inp is Input.TIMER and bool(self._expedited_by)
        cause = "bow_out" if expedited else CAUSES[inp]
        match step:
            case Step.IGNORE | Step.UNREACHABLE:
                return []
            case Step.DROP:
                return [classified.drop] if classified.drop is not None else []
            case Step.UPDATE_DEMOTION:
                assert isinstance(event, ev.DemotionChanged)
                self._host_demotion = event.demotion
                return []
            case Step.COUNT_SEND_RESULT:
                assert isinstance(event, ev.SendCompleted)
                self._send_errors.count(event.ok)
                return []
            case Step.START:
                return self._start(inp is Input.STARTED, now, cause)
            case Step.JOIN:
                return self._enter_backup(now, "carrier up", cause)
            case Step.RESTART_MASTER_DOWN:
                self.next_deadline = now + self.master_down_interval
                self._expedited_by = ""
                return []
            case Step.EXPEDITE:
                skew = self.advskew_on_wire / SKEW_UNIT
                if self.vrrp is not None:
                    skew = self.vrrp.skew(self.demotion)
                self.next_deadline = now + skew
                self._expedited_by = reason
                return []
            case Step.BECOME_MASTER:
                if expedited:
                    reason = f"after our skew: {self._expedited_by}"
                elif inp is Input.TIMER:
                    reason = "master-down timer expired"
                return self._become_master(now, reason, cause)
            case Step.ADVERTISE:
                return self._advertise(now, due=self.next_deadline)
            case Step.STEP_DOWN:
                return self._step_down(now, reason, cause)
            case Step.YIELD:
                last_word = self._advertise(now)
                return [*last_word, *self._step_down(now, reason, cause)]
            case Step.REASSERT:
                return [*self._advertise(now), Announce(repeat=1)]
            case Step.LINK_LOST:
                return self._leave(State.INIT, reason, cause, bow_out=False)
            case Step.DISABLE:
                self._running = False
                why = f"cannot send advertisements: {reason}"
                return self._leave(State.INIT, why, cause, bow_out=False)
            case Step.HAND_OVER:
                last_word = self._advertise(now, bow_out=True)
                return [*last_word, *self._step_down(now, reason, cause)]
            case Step.STOP:  # pragma: no branch - the match is exhaustive (mypy checks it)
                self._running = False
                return self._leave(State.INIT, "shutting down", cause, bow_out=True)

    def _change(self, new: State, reason: str, cause: str) -> StateChanged:
        old, self.state = self.state, new
        return StateChanged(old=old, new=new, reason=reason, cause=cause)

    def _start(self, link_up: bool, now: float, cause: str) -> list[Action]:
        self._running = True
        # Stale addresses left by a crash are removed whatever happens next; ucarp runs its
        # down script at start-up unless --neutral.
        actions: list[Action] = [ReleaseAddresses()]
        if not self.settings.neutral:
            actions.append(RunHook(hook=Hook.DOWN))
        if link_up:
            actions[:0] = self._enter_backup(now, "started", cause)
        return actions

    def _enter_backup(self, now: float, reason: str, cause: str) -> list[Action]:
        if self.vrrp is not None and self.state is State.INIT:  # the owner takes over at once
            self.next_deadline = now + self.vrrp.start_wait(now, self.demotion)
        else:
            self.next_deadline = now + self.master_down_interval
        return [self._change(State.BACKUP, reason, cause)]

    def _become_master(self, now: float, reason: str, cause: str) -> list[Action]:
        self._adverts_as_master = 0
        self._expedited_by = ""
        return [
            self._change(State.MASTER, reason, cause),
            ClaimAddresses(),
            *self._advertise(now),
            Announce(),
            RunHook(hook=Hook.UP),
        ]

    def _advertise(
        self, now: float, *, bow_out: bool = False, due: float | None = None
    ) -> list[Action]:
        if self.vrrp is not None:  # no counter, no digest: VRRPv3 has no authentication
            return self._after_send(self.vrrp.send(self.demotion, release=bow_out), now, due)
        send = self.carp.send(
            bow_out=bow_out, advskew=self.advskew_on_wire, demote=self.demote_on_wire
        )
        return self._after_send(send, now, due)

    def _after_send(self, send: SendAdvertisement, now: float, due: float | None) -> list[Action]:
        """The advert, the next one armed, and ucarp's repeated announcement after two."""
        actions: list[Action] = [send]
        if not send.bow_out:
            self.next_deadline = self._next_advert(now, due)
            self._adverts_as_master += 1
            if self._adverts_as_master == ANNOUNCE_REPEAT_AFTER + 1:
                actions.append(Announce(repeat=1))
        return actions

    def _next_advert(self, now: float, due: float | None) -> float:
        """One interval after this advert was *due* (``due``: the deadline that fired), so the
        runtime's wake-up lateness does not add up advert after advert (it made the mean
        interval 1002.3 ms at advbase 1). From ``now`` when there is no schedule to keep (a
        takeover, an advert that answers a peer) or the wake-up was late by more than
        :data:`ON_SCHEDULE_LATENESS` of an interval: keeping the schedule then would send the
        next advert too soon after this one, or at once. A longer pause is not seen here:
        past the stall threshold the master steps down instead (:mod:`pycarp.core.stall`).
        """
        interval = self.advertisement_interval
        if due is not None and now - due <= interval * ON_SCHEDULE_LATENESS:
            return due + interval
        return now + interval

    def _step_down(self, now: float, reason: str, cause: str) -> list[Action]:
        return [
            *self._enter_backup(now, reason, cause),
            ReleaseAddresses(),
            RunHook(hook=Hook.DOWN),
        ]

    def _leave(self, new: State, reason: str, cause: str, *, bow_out: bool) -> list[Action]:
        was_master = self.state is State.MASTER
        actions: list[Action] = []
        if was_master and bow_out:
            actions += self._advertise(0.0, bow_out=True)
        self.next_deadline = None
        if self.state is not new:
            actions.insert(0, self._change(new, reason, cause))
        if was_master:
            actions += [ReleaseAddresses(), RunHook(hook=Hook.DOWN)]
        return actions


def _retakes(cell: Transition) -> bool:
    """Would this BACKUP cell make us master at once (or after our own skew only)?"""
    return cell.target is State.MASTER or cell.step is Step.EXPEDITE
