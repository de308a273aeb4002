"""The daemon: many groups on many interfaces in one process, one asyncio TaskGroup.

It opens one advert socket per interface (shared by every group there) and routes received
packets by vhid, watches carrier (carrier loss sends the interface's groups to INIT and demotes
every other group, as FreeBSD's ``ifdown_demotion_factor`` does), handles signals (TERM/INT bow
out and exit, HUP reloads ``--config``, USR1 logs a status dump) and drains the effect queues
before it exits so no address is left behind.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import random
import signal
import sys
import time
from collections.abc import Callable, Sequence

import pycarp
from pycarp.config.model import ConfigError, DaemonConfig, GroupConfig, passphrases_cut
from pycarp.core import events as ev
from pycarp.core.actions import Action
from pycarp.core.auth import PASSPHRASE_BYTES_USED
from pycarp.core.host import Host
from pycarp.core.stats import DropStats
from pycarp.observe import facts
from pycarp.observe.logsink import log_fact
from pycarp.observe.stream import EventStream
from pycarp.platform.ports import AdvertSocket, LinkWatcher, Platform, ReceivedPacket
from pycarp.runtime.address_work import AddressWork
from pycarp.runtime.driver import GroupDriver, StateListener
from pycarp.runtime.reload import plan_reload
from pycarp.runtime.services import Services
from pycarp.runtime.signals import LoopSignals
from pycarp.runtime.status import build_status, status_lines
from pycarp.runtime.timers import Timers, timers_for
from pycarp.runtime.tracks import TrackRunner
from pycarp.runtime.vmacs import VirtualMacGroups

log = logging.getLogger("pycarp")

# How long a thread may hold the GIL while another waits for it (Python's default: 5 ms).
# The worker threads (address changes, announcements) wait for it after every system call,
# and the event loop waits while they run Python: 1,000 simultaneous takeovers spent more
# time in those waits than in netlink (bench/scale.py).
GIL_SWITCH_INTERVAL = 0.0005
SHUTDOWN_DRAIN_TIMEOUT = 10.0  # seconds to finish address removal and down scripts on exit
READ_BATCH = 256  # packets read per wake-up: a flood delays due timers by one batch at most


class Daemon:
    def __init__(
        self,
        config: DaemonConfig,
        platform: Platform,
        *,
        rng: random.Random | None = None,
        on_state: StateListener | None = None,
        reload: Callable[[], DaemonConfig] | None = None,
        stream: EventStream | None = None,
        timers: Timers | None = None,
    ) -> None:
        self.config = config
        # The groups' deadlines (runtime/timers.py); chosen for the running loop unless given.
        self._given_timers = timers
        self._timers: Timers | None = timers
        self.platform = platform
        self.drivers: dict[tuple[str, int], GroupDriver] = {}
        self.stream = stream or EventStream()
        self.stream.subscribe(log_fact)
        self.host = Host(rng or random.SystemRandom(), self._execute, self._rearm)
        self.started_at = time.monotonic()
        self._on_state = on_state
        self._reload = reload
        # One socket per interface and address family, shared by every group sourced there.
        self._sockets: dict[tuple[str, int], AdvertSocket] = {}
        self._watcher: LinkWatcher | None = None
        self._stop = asyncio.Event()
        self._tasks: asyncio.TaskGroup | None = None
        self._workers: dict[tuple[str, int], list[asyncio.Task[None]]] = {}
        self.started = asyncio.Event()
        # Every passphrase this daemon has been given: no hook's environment may hold one.
        self._hook_secrets = {group.hidden_secret for group in config.groups}
        self._signals = LoopSignals(
            {
                signal.SIGTERM: self.request_stop,
                signal.SIGINT: self.request_stop,
                signal.SIGUSR1: self.log_status,
                signal.SIGUSR2: self.hand_over,
                signal.SIGHUP: self.reload,
            }
        )
        self._services = Services(self)
        self.address_work = AddressWork(platform)  # every group's, batched together
        self._vmacs = VirtualMacGroups(platform, self.stream)
        self.tracks = TrackRunner(self)  # health tracks, started with the services

    # -- lifecycle ---------------------------------------------------------------------------

    def request_stop(self) -> None:
        self._stop.set()

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        if self._timers is None:
            self._timers = timers_for(loop)
        switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(GIL_SWITCH_INTERVAL)
        try:
            async with asyncio.TaskGroup() as tasks:
                self._tasks = tasks
                self._signals.install(loop)
                await self._services.start(tasks)
                if self.platform.open_link_watcher is not None:
                    self._watcher = self.platform.open_link_watcher()
                    loop.add_reader(self._watcher.fileno(), self._on_link_events)
                self._say_passphrases_cut(self.config.groups)
                for group in self.config.groups:
                    await self._start_group(group)
                    # Let due timers run between groups: 250 groups of one interface start
                    # without another await, and groups already master must keep advertising
                    # (seconds late, they would step down as if the process had been paused).
                    await asyncio.sleep(0)
                self.started.set()
                self.stream.publish(
                    facts.DaemonStarted(
                        pid=os.getpid(), groups=len(self.drivers), version=pycarp.__version__
                    )
                )
                await self._stop.wait()
                self.stream.publish(
                    facts.DaemonStopping(reason=f"bowing out of {len(self.drivers)} group(s)")
                )
                await self._stop_groups(list(self.drivers))
                await self._services.close()
        finally:
            await self._services.close()
            # Cancelled or failed mid-run: the groups' timers must not outlive the daemon (in a
            # shared event loop they would keep firing and sending through closed sockets).
            for driver in self.drivers.values():
                driver.stop_timer()
            if self._given_timers is None:
                self._timers.close()
                self._timers = None
            self._signals.remove(loop)
            if self._watcher is not None:
                loop.remove_reader(self._watcher.fileno())
                self._watcher.close()
            for sock in self._sockets.values():
                loop.remove_reader(sock.fileno())
                sock.close()
            self._sockets.clear()
            await asyncio.to_thread(self._vmacs.close)
            sys.setswitchinterval(switch_interval)
        return 0

    # -- groups ------------------------------------------------------------------------------

    async def _start_group(self, group: GroupConfig) -> None:
        assert self._tasks is not None
        sock = await self._socket_for(group)
        vmac = await self._vmacs.attach(group) if group.vmac else None
        driver = GroupDriver(
            group,
            host=self.host,
            socket=sock if vmac is None else vmac.sender,
            address_interface=group.interface if vmac is None else vmac.interface,
            platform=self.platform,
            stream=self.stream,
            on_state=self._on_state,
            read_pending=functools.partial(self._on_readable, sock),
            hook_secrets=self._hook_secrets,
            timers=self._timers,
            address_work=self.address_work,
        )
        self.drivers[group.key] = driver
        self._workers[group.key] = [
            self._tasks.create_task(driver.addresses_queue.run()),
            self._tasks.create_task(driver.scripts_queue.run()),
        ]
        link_up = group.ignore_ifstate or await self._initial_carrier(group.interface)
        settings = group.settings
        self.stream.publish(
            facts.GroupStarted(
                group=group.name,
                vhid=settings.vhid,
                interface=group.interface,
                addresses=tuple(str(p) for p in group.prefixes),
                advbase=settings.advbase,
                advskew=settings.advskew,
                link_up=link_up,
                signature=settings.signature_mode.value,
                address_mode="native" if group.native_addresses else "scripts",
                protocol=settings.protocol.value,
            )
        )
        if settings.vrrp:
            self.stream.publish(
                facts.Unauthenticated(
                    group=group.name,
                    vhid=settings.vhid,
                    interface=group.interface,
                    protocol=settings.protocol.value,
                    priority=settings.priority,
                    interval=settings.interval,
                )
            )
        carrier_before = self.host.carrier_demotion()
        self.host.add(
            group.interface,
            settings,
            self._now(),
            link_up=link_up,
            ignore_ifstate=group.ignore_ifstate,
        )
        if self.host.carrier_demotion() != carrier_before:  # the others are demoted too
            self.publish_demotions()
        else:  # only this one: walking 10,000 groups per start would make start-up quadratic
            driver.publish_demotion()

    def _say_passphrases_cut(self, groups: Sequence[GroupConfig]) -> None:
        """Once, before the groups start: passphrases of which only the first 19 bytes count."""
        names, longest = passphrases_cut(groups)
        if names:
            fact = facts.PassphraseCut(groups=names, used=PASSPHRASE_BYTES_USED, longest=longest)
            self.stream.publish(fact)

    async def _stop_groups(self, keys: list[tuple[str, int]]) -> None:
        """Bow out of these groups, release every address, run the down scripts.

        All groups bow out first (their adverts leave within milliseconds, whatever the
        count), then the slow effects drain. Address removal is never cut short for time:
        each netlink request is bounded on its own, and an address left behind would answer
        for a host that no longer advertises (10,000 groups: every address goes). Only a
        script that hangs is cut, after SHUTDOWN_DRAIN_TIMEOUT, so the ones behind it run.
        """
        drivers = [self.drivers[key] for key in keys]
        workers = [self._workers.pop(key) for key in keys]
        for driver in drivers:
            self.host.remove(driver.key, self._now())
            del self.drivers[driver.key]
            config = driver.config
            self.stream.publish(
                facts.GroupStopped(
                    group=config.name,
                    vhid=config.settings.vhid,
                    interface=config.interface,
                    reason="stopping" if self._stop.is_set() else "reloaded",
                )
            )
            driver.stop_timer()
            driver.addresses_queue.close()
            driver.scripts_queue.close()
        addresses = [address_worker for address_worker, _scripts in workers]
        if addresses:
            await asyncio.wait(addresses)
        for key in keys:
            await self._vmacs.detach(key)
        await asyncio.gather(
            *(
                self._drain_scripts(driver, scripts_worker)
                for driver, (_addresses, scripts_worker) in zip(drivers, workers, strict=True)
            )
        )
        for socket_key in {_socket_key(driver.config) for driver in drivers}:
            if any(_socket_key(d.config) == socket_key for d in self.drivers.values()):
                continue
            sock = self._sockets.pop(socket_key, None)
            if sock is not None:
                asyncio.get_running_loop().remove_reader(sock.fileno())
                sock.close()

    async def _drain_scripts(self, driver: GroupDriver, worker: asyncio.Task[None]) -> None:
        """Every script gets SHUTDOWN_DRAIN_TIMEOUT to finish; one that hangs is cut short so
        the scripts behind it (the down script, in scripts mode) still run. Bounded: one
        round per script that was queued."""
        queue = driver.scripts_queue
        for _round in range(1 + queue.backlog):
            _done, pending = await asyncio.wait({worker}, timeout=SHUTDOWN_DRAIN_TIMEOUT)
            if not pending:
                return
            log.error(
                "%s: still busy after %gs at exit: cut short: %s",
                driver.config.name,
                SHUTDOWN_DRAIN_TIMEOUT,
                queue.name if queue.cut_current() else "nothing running",
            )
        worker.cancel()

    async def _socket_for(self, group: GroupConfig) -> AdvertSocket:
        key = _socket_key(group)
        sock = self._sockets.get(key)
        if sock is None:
            source = group.settings.source
            assert source is not None
            sock = await asyncio.to_thread(self.platform.open_socket, group.interface, source)
            self._sockets[key] = sock
            asyncio.get_running_loop().add_reader(sock.fileno(), self._on_readable, sock)
        if group.destination is not None and group.destination.is_multicast:
            try:  # --mcast: its peers advertise there, not to CARP's group
                sock.join(group.destination)
            except OSError as error:  # e.g. more groups than net.ipv4.igmp_max_memberships
                log.error("%s: cannot join %s: %s", group.name, group.destination, error)
        return sock

    async def _initial_carrier(self, interface: str) -> bool:
        known = self.host.carrier.get(interface)
        if known is not None:
            return known
        try:
            return await asyncio.to_thread(self.platform.addresses.carrier, interface)
        except OSError as error:
            log.error("%s: cannot read link state: %s (assuming up)", interface, error)
            return True

    # -- input ------------------------------------------------------------------------------

    def _on_readable(self, sock: AdvertSocket, queued: bool = False) -> None:
        """Read a bounded batch: the due timers run right after it (see GroupDriver._rearm).

        ``queued`` is set when a group's timer callback reads first (see
        GroupDriver._deadline_reached).
        """
        for _ in range(READ_BATCH):
            try:
                packet = sock.receive()
            except OSError as error:
                log.warning("%s: receive failed: %s", sock.interface, error)
                return
            if packet is None:
                return
            self._dispatch(packet, queued)

    def _dispatch(self, packet: ReceivedPacket, queued: bool = False) -> None:
        drop = self.host.receive(
            packet.interface,
            packet.payload,
            packet.source,
            packet.ttl,
            self._now(),
            queued=queued,
            arrived=packet.arrived,
        )
        if drop is not None and drop.report:
            self.stream.publish(
                facts.PacketDropped(
                    group="",
                    interface=packet.interface,
                    reason=drop.reason.value,
                    source=str(packet.source),
                    detail=drop.detail,
                )
            )

    # -- the host's callbacks ------------------------------------------------------------------

    def _execute(self, key: tuple[str, int], action: Action) -> ev.Event | None:
        return self.drivers[key].execute(action)

    def _rearm(self, key: tuple[str, int], deadline: float | None) -> None:
        driver = self.drivers.get(key)
        if driver is not None:
            driver.rearm(deadline)

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def publish_demotions(self) -> None:
        # A group still reading its carrier at start is a driver but not yet on the host.
        for key, driver in self.drivers.items():
            if key in self.host.groups:
                driver.publish_demotion()

    def _on_link_events(self) -> None:
        assert self._watcher is not None
        try:
            changes = self._watcher.read()
        except OSError as error:
            log.warning("link watcher: %s", error)
            return
        for interface, up in changes:
            self.link_changed(interface, up)

    def link_changed(self, interface: str, up: bool) -> None:
        """Carrier on ``interface`` changed: INIT/BACKUP its groups, re-demote the others."""
        if self.host.carrier.get(interface) == up:
            return
        if self.host.watches_carrier(interface):
            self.stream.publish(facts.CarrierChanged(interface=interface, up=up))
        if self.host.link_changed(interface, up, self._now()):
            self.publish_demotions()

    @property
    def demotion(self) -> int:
        """FreeBSD-style host-wide carrier demotion: a factor per CARP interface without
        carrier."""
        return self.host.carrier_demotion()

    @property
    def hook_secrets(self) -> frozenset[bytes]:
        """Every passphrase this daemon was given: kept out of hooks' and checks' env."""
        return frozenset(self._hook_secrets)

    @property
    def interface_drops(self) -> dict[str, DropStats]:
        return self.host.interface_drops

    # -- operator ---------------------------------------------------------------------------

    def log_status(self) -> None:
        for line in self.status_lines():
            log.info("%s", line)
        self.stream.publish(facts.StatusSnapshot(status=build_status(self)))

    def hand_over(self) -> None:
        """SIGUSR2, as ucarp: every master steps down to backup with a bow-out, so a backup
        takes over at once; as a backup it takes over again only if nobody else does (its
        master-down timer, about 3 s at advbase 1)."""
        masters = self.host.hand_over(self._now(), "SIGUSR2: handing over")
        self.stream.publish(
            facts.ControlRequest(
                uid=-1,
                command="SIGUSR2",
                arguments={},
                ok=True,
                message=f"{len(masters)} master(s) handed over",
            )
        )

    def status_lines(self) -> list[str]:
        return status_lines(self)

    def reload(self) -> None:
        if self._reload is None:
            log.warning("SIGHUP: no --config file to re-read; ignored")
            return
        assert self._tasks is not None
        self._tasks.create_task(self._apply_reload(self._reload))

    async def _apply_reload(self, load: Callable[[], DaemonConfig]) -> None:
        try:
            new = await asyncio.to_thread(load)
        except ConfigError as error:
            log.error("SIGHUP: configuration not reloaded: %s", error)
            return
        self._hook_secrets.update(g.hidden_secret for g in new.groups)
        current = {key: d.config for key, d in self.drivers.items()}
        plan = plan_reload(current, self.config, new)
        await self._stop_groups(plan.removed + plan.changed)
        self._say_passphrases_cut([plan.wanted[key] for key in plan.changed + plan.added])
        for key in plan.changed + plan.added:
            await self._start_group(plan.wanted[key])
            await asyncio.sleep(0)  # due timers run between groups, as at start-up
        if plan.restart_only:
            changed = ", ".join(plan.restart_only)
            log.warning("SIGHUP: %s changed: takes effect at the next start", changed)
        self.config = new
        log.info("SIGHUP: reloaded: %s", plan.summary())


def _socket_key(group: GroupConfig) -> tuple[str, int]:
    source = group.settings.source
    assert source is not None  # the configuration layer requires it
    return (group.interface, source.version)
