"""One group's driver: feed events into its core machine, carry out the actions.

The timing path is synchronous and short: ``feed`` runs the core, sends adverts with a
non-blocking syscall and re-arms the group's single timer to the core's next deadline. Address
changes, announcements and scripts are handed to the group's two serial queues.
"""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import functools
import logging
from collections.abc import Callable, Collection

from pycarp.config.model import GroupConfig
from pycarp.core import events as ev
from pycarp.core.actions import (
    Action,
    AddressListMismatch,
    Announce,
    ClaimAddresses,
    PacketDropped,
    ReleaseAddresses,
    RunHook,
    SendAdvertisement,
    StateChanged,
)
from pycarp.core.host import Host
from pycarp.core.machine import GroupMachine
from pycarp.core.stats import DropReason
from pycarp.core.table import State
from pycarp.observe import facts
from pycarp.observe.stream import EventStream
from pycarp.platform.ports import AdvertSocket, Platform
from pycarp.runtime.address_work import AddressWork, Outcome
from pycarp.runtime.deadline import DeadlineTimer
from pycarp.runtime.group_scripts import GroupScripts
from pycarp.runtime.hooks import HookStats
from pycarp.runtime.serial import SerialQueue
from pycarp.runtime.timers import LoopTimers, Timers

log = logging.getLogger("pycarp")

StateListener = Callable[[GroupConfig, StateChanged], None]

# Sends that may work again later: full buffers, a link or route that is going away, a
# firewall rule (netfilter refuses with EPERM) that an operator can lift. FreeBSD counts these
# towards its send-error demotion; anything else (EINVAL, EBADF, a bug) means it cannot work.
TRANSIENT_SEND_ERRORS = frozenset(
    {
        errno.EPERM,
        errno.EACCES,
        errno.EAGAIN,
        errno.EINTR,
        errno.ENOBUFS,
        errno.ENOMEM,
        errno.ENETDOWN,
        errno.ENETUNREACH,
        errno.EHOSTUNREACH,
        errno.EHOSTDOWN,
        errno.ENXIO,
        errno.ENODEV,
        errno.EADDRNOTAVAIL,
    }
)
LOUD_DROPS = frozenset(
    {DropReason.BAD_AUTH, DropReason.BAD_TTL, DropReason.OWN_COUNTER, DropReason.REPLAY}
)


@dataclasses.dataclass(slots=True)
class GroupCounters:
    adverts_sent: int = 0
    send_errors: int = 0
    address_errors: int = 0
    hooks: HookStats = dataclasses.field(default_factory=HookStats)


class GroupDriver:
    """Carries out one group's actions; its machine lives in the daemon's :class:`Host`."""

    def __init__(
        self,
        config: GroupConfig,
        *,
        host: Host,
        socket: AdvertSocket,
        platform: Platform,
        address_interface: str | None = None,
        stream: EventStream,
        on_state: StateListener | None = None,
        read_pending: Callable[[bool], None] | None = None,
        hook_secrets: Collection[bytes] | None = None,
        timers: Timers | None = None,
        address_work: AddressWork | None = None,
    ) -> None:
        self.config = config
        self.key = config.key
        self._host = host
        self.counters = GroupCounters()
        self.addresses_queue = SerialQueue(f"{config.name} addresses")
        self.scripts_queue = SerialQueue(f"{config.name} scripts")
        self._socket = socket
        # Where the addresses go and are announced: the interface, or a vmac group's macvlan.
        self.address_interface = address_interface or config.interface
        self._platform = platform
        # Shared by the daemon's groups, so that simultaneous takeovers share worker calls.
        self._address_work = address_work or AddressWork(platform)
        self._stream = stream
        self._on_state = on_state
        self._read_pending = read_pending
        self._loop = asyncio.get_running_loop()
        self._timers = timers or LoopTimers(self._loop)  # the daemon's (runtime/timers.py)
        self._deadline = DeadlineTimer(
            self._timers,
            self._loop,
            self._deadline_reached,
            busy=lambda: self._address_work.busy,
        )
        # While a takeover computed ahead of its deadline runs: the deadline its advert waits
        # for (runtime/deadline.py).
        self._send_at: float | None = None
        self.last_change: StateChanged | None = None
        # While the timer callback runs, the state change is told after the advert has left
        # (see _deadline_reached); None: told at once.
        self._held: list[StateChanged] | None = None
        self.changed_at = self._loop.time()  # loop (monotonic) time of the last state change
        self._demotion_said = 0  # the demotion last published
        settings = config.settings
        self._names = facts.GroupNames(
            group=config.name, vhid=settings.vhid, interface=config.interface
        )
        self.scripts = GroupScripts(
            config,
            queue=self.scripts_queue,
            stream=stream,
            names=self._names,
            stats=self.counters.hooks,
            # Passphrases no hook may see (the daemon's, every group's; shared, grows on reload).
            secrets=hook_secrets or (config.hidden_secret,),
            state=lambda: self.machine.state,
        )

    @property
    def machine(self) -> GroupMachine:
        return self._host.machine(self.key)

    @property
    def state(self) -> State:
        return self.machine.state

    def feed(self, event: ev.Event) -> None:
        """Run one event through the core (via the host) and carry out what it asks for."""
        self._host.feed(self.key, event, self._loop.time())

    def rearm(self, deadline: float | None) -> None:
        """The host says the core's deadline moved (it only calls when it did).

        asyncio runs socket callbacks before due timers, and every packet fed (a dropped one
        too) reaches the core: cancelling and re-creating an unchanged timer for each would
        push a due timer behind the next packet forever, so a flood would starve it. A
        deadline that moves later is not even re-armed (runtime/deadline.py).
        """
        takeover = deadline is not None and self.machine.state is State.BACKUP
        self._deadline.set(deadline, takeover=takeover)

    def stop_timer(self) -> None:
        self._deadline.stop()

    def _deadline_reached(self, deadline: float, ahead: bool) -> None:
        """Read what the network already delivered, then let the timer speak.

        After the process was frozen (SIGSTOP, a suspended VM) the expired timer runs before
        the packets that arrived meanwhile are read: a backup would take over although its
        master's adverts sit unread in the socket. ``read_pending`` feeds them in first,
        marked as queued, so that the core judges them by the timer's lateness. A master on
        time has nothing to learn from them before it advertises, and under a flood reading
        them first would only delay the advert.

        ``ahead``: a takeover woken before its deadline (runtime/deadline.py). Unless what was
        read moved the deadline, the core runs as of the deadline and the advert waits for it.
        """
        if self.key not in self._host.groups:
            return
        machine = self.machine
        if self._read_pending is not None and (
            machine.state is not State.MASTER or machine.timer_overdue(self._loop.time())
        ):
            self._read_pending(True)
            if ahead and self._deadline.armed:  # an advert came: the takeover is off
                return
        # A takeover's log line and events cost ~0.5-0.9 ms before its advert could leave:
        # the peers and the clients wait for the advert, nobody for the log line.
        self._held = []
        self._send_at = deadline if ahead else None
        try:
            self._host.timer(self.key, deadline if ahead else self._loop.time())
        finally:
            if self._send_at is not None:  # no advert waited for the deadline: wait here
                self._deadline.hold_until_due(self._send_at)
                self._send_at = None
            held, self._held = self._held, None
            for change in held:
                self._tell_change(change)
        if self.key in self._host.groups and self.machine.demotion != self._demotion_said:
            self.publish_demotion()  # send-error demotion came or went

    def execute(self, action: Action) -> ev.Event | None:
        match action:
            case SendAdvertisement():
                return self._send(action)
            case StateChanged():
                self._state_changed(action)
            case PacketDropped():
                self._dropped(action)
            case AddressListMismatch():
                self._mismatch(action)
            case ClaimAddresses():
                if self.config.native_addresses:
                    self._ask_claim()
            case ReleaseAddresses():
                if self.config.native_addresses:
                    self.addresses_queue.submit(functools.partial(self._release, self._loop.time()))
            case Announce():
                # Announce once the addresses exist: after netlink in native mode, after the
                # up script (which adds them) in scripts mode, as ucarp does.
                queue = self.addresses_queue if self.config.native_addresses else self.scripts_queue
                queue.submit(self._announce)
            case RunHook(hook=hook):
                self.scripts.run_hook(hook, self.last_change)
        return None

    def publish_demotion(self) -> None:
        """Publish the group's demotion if it changed since last said (with its sources)."""
        machine = self.machine
        if machine.demotion == self._demotion_said:
            return
        self._demotion_said = machine.demotion
        self._stream.publish(
            facts.DemotionChanged(
                **self._names,
                demotion=machine.demotion,
                sources={k: v for k, v in self._host.sources(self.key).as_dict().items() if v},
                advskew_on_wire=machine.advskew_on_wire,
            )
        )

    def _send(self, action: SendAdvertisement) -> ev.Event:
        """Send; a failure that will not go away by itself takes the group out of MASTER.

        Nothing may escape: this runs in the timer callback, and an exception there would
        leave the group MASTER with its addresses, never advertising, its timer never re-armed.
        """
        if self._send_at is not None:  # a takeover computed ahead: not before its deadline
            self._deadline.hold_until_due(self._send_at)
            self._send_at = None
        try:
            self._socket.send(action.payload, self.config.destination)
        except OSError as error:
            self.counters.send_errors += 1
            if error.errno in TRANSIENT_SEND_ERRORS:
                log.warning("%s: advertisement not sent: %s", self.config.name, error)
                return ev.SendCompleted(ok=False)
            return self._send_broken(error)
        except Exception as error:  # a bug must not leave a silent master: say it, leave
            self.counters.send_errors += 1
            log.error("%s: advertisement not sent", self.config.name, exc_info=error)
            return self._send_broken(error)
        self.counters.adverts_sent += 1
        return ev.SendCompleted(ok=True)

    def _send_broken(self, error: BaseException) -> ev.Event:
        text = str(error) or type(error).__name__
        log.error("%s: cannot send advertisements (%s): leaving the group", self.config.name, text)
        return ev.SendCompleted(ok=False, error=text)

    def _state_changed(self, change: StateChanged) -> None:
        self.last_change = change
        self.changed_at = self._loop.time()
        self.scripts.notify(change)
        if self._held is not None:
            self._held.append(change)
        else:
            self._tell_change(change)

    def _tell_change(self, change: StateChanged) -> None:
        """Publish the change (logs, events, status) and call the listener."""
        self._stream.publish(
            facts.StateChanged(
                **self._names,
                old=change.old.value,
                new=change.new.value,
                reason=change.reason,
                cause=change.cause,
            )
        )
        if self._on_state is not None:
            self._on_state(self.config, change)

    def _mismatch(self, mismatch: AddressListMismatch) -> None:
        rules = self.machine.vrrp
        self._stream.publish(
            facts.AddressListMismatch(
                **self._names,
                source=str(mismatch.source),
                theirs=tuple(map(str, mismatch.theirs)),
                ours=tuple(map(str, mismatch.ours)),
                count=0 if rules is None else rules.address_mismatches,
            )
        )

    def _dropped(self, drop: PacketDropped) -> None:
        # The core marks the first drop per (reason, sender), bounded in memory and rate, so a
        # misconfigured peer or an attack is visible without a flood of events; the counters
        # (status, metrics) carry the totals.
        if drop.report:
            self._stream.publish(
                facts.PacketDropped(
                    group=self.config.name,
                    interface=self.config.interface,
                    reason=drop.reason.value,
                    source="" if drop.source is None else str(drop.source),
                    detail=drop.detail,
                )
            )

    def _still_master(self, what: str) -> bool:
        """Claims and announcements are level-triggered: by the time a queued one runs, the
        group may have stepped down again (e.g. a backup that answered a bow-out and then heard
        a better one). Acting on a stale claim would draw clients to us for a moment. At
        shutdown the group has left the host while its queue drains: it is master no more."""
        if self.key in self._host.groups and self.machine.state is State.MASTER:
            return True
        log.debug("%s: %s skipped: no longer master", self.config.name, what)
        return False

    def _ask_claim(self) -> None:
        """Claim the addresses. With nothing of this group's queued (a takeover from BACKUP,
        the common case), the address worker is asked at once and the queued job only awaits
        the outcome: a queued job starts only some turns of the loop later, and in a burst of
        1,000 takeovers each of those turns is long. Otherwise it waits its turn (a release
        still queued must not come after the claim)."""
        asked_at = self._loop.time()
        if self.addresses_queue.idle:
            asked = self._address_work.ask(True, self.address_interface, self.config.prefixes)
            self.addresses_queue.submit(functools.partial(self._report, "add", asked_at, asked))
        else:
            self.addresses_queue.submit(functools.partial(self._claim, asked_at))

    async def _claim(self, asked_at: float) -> None:
        if not self._still_master("address claim"):
            return
        await self._address_changes("add", asked_at)

    async def _release(self, asked_at: float) -> None:
        await self._address_changes("remove", asked_at)

    async def _address_changes(self, verb: str, asked_at: float) -> None:
        """All of the group's addresses in one request to the daemon's address worker, which
        batches simultaneous takeovers (an error on one address does not stop the others).
        The latency published counts from the state change that asked (``asked_at``, loop
        time): what a client waited for."""
        asked = self._address_work.ask(verb == "add", self.address_interface, self.config.prefixes)
        await self._report(verb, asked_at, asked)

    async def _report(
        self, verb: str, asked_at: float, asked: asyncio.Future[list[Outcome]]
    ) -> None:
        """Each address's outcome as an event (and an error counted)."""
        results = await asked
        latency = round((self._loop.time() - asked_at) * 1000, 3)
        for prefix, outcome in zip(self.config.prefixes, results, strict=True):
            if isinstance(outcome, OSError):
                self.counters.address_errors += 1
            if isinstance(outcome, OSError) or outcome:
                self._stream.publish(
                    facts.AddressChanged(
                        **self._names,
                        address=str(prefix),
                        added=verb == "add",
                        latency_ms=latency,
                        error=str(outcome) if isinstance(outcome, OSError) else "",
                    )
                )

    async def _announce(self) -> None:
        if not self._still_master("announcement"):
            return
        addresses = [p.ip for p in self.config.prefixes]
        error = ""
        try:
            await self._address_work.announce(self.address_interface, addresses)
        except OSError as failure:
            error = str(failure)
        self._stream.publish(
            facts.Announced(**self._names, addresses=tuple(map(str, addresses)), error=error)
        )
