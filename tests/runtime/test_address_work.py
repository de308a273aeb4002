"""Every group's address changes and announcements go through one batching worker.

What it must keep from the one-call-per-group path it replaced: each address its own outcome
(an error on one stops no other), order per group, and errors reported, never swallowed. What
it adds: simultaneous requests share one worker call, and address changes come first.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import threading
import typing

import pytest

from pycarp.core.constants import IPAddress, IPInterface
from pycarp.observe import facts
from pycarp.platform.ports import AddressChange, Platform
from pycarp.runtime.address_work import ANNOUNCE_CHUNK, AddressWork

from .fakes import FakeAddressManager, FakeHost, FakeSegment
from .support import Node, group, run, running, wait_until

A = ipaddress.ip_interface("198.51.100.10/24")
B = ipaddress.ip_interface("198.51.100.11/24")
C = ipaddress.ip_interface("2001:db8::12/64")


class BatchingManager(FakeAddressManager):
    """A fake with ``apply``: records each batch; ``refuse`` maps an address to the errno
    its addition fails with;
    ``gate``, when set, holds every batch until the test opens it."""

    def __init__(self, log: list[str]) -> None:
        super().__init__()
        self.batches: list[list[AddressChange]] = []
        self.refuse: dict[IPInterface, int] = {}
        self.gate: threading.Event | None = None
        self.log = log
        self.bug: Exception | None = None
        self.applied: typing.Callable[[list[list[AddressChange]]], None] | None = None
        self.entered: threading.Event | None = None  # set when a batch reaches apply

    def apply(self, changes: typing.Sequence[AddressChange]) -> list[bool | OSError]:
        if self.entered is not None:
            self.entered.set()
        if self.gate is not None:
            self.gate.wait(5)
        if self.bug is not None:
            raise self.bug
        self.batches.append(list(changes))
        self.log.append(f"apply {len(changes)}")
        if self.applied is not None:
            self.applied(self.batches)
        outcomes: list[bool | OSError] = []
        for change in changes:
            code = self.refuse.get(change.address)
            if code is not None and change.add:
                outcomes.append(OSError(code, f"netlink: {errno.errorcode[code]}"))
            elif change.add:
                outcomes.append(self.add(change.interface, change.address))
            else:
                outcomes.append(self.remove(change.interface, change.address))
        return outcomes


class LoggingAnnouncer:
    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.fail: set[str] = set()

    def announce(self, interface: str, addresses: typing.Sequence[IPAddress]) -> None:
        self.log.append(f"announce {interface}")
        if interface in self.fail:
            raise OSError(errno.ENETDOWN, "Network is down")


def work_with(manager: FakeAddressManager, announcer: LoggingAnnouncer) -> AddressWork:
    platform = Platform(
        open_socket=FakeHost("198.51.100.1", {}).open_socket,
        addresses=manager,
        announcer=announcer,
    )
    return AddressWork(platform)


def test_requests_of_one_loop_turn_share_one_batch_each_with_its_own_outcomes() -> None:
    async def scenario() -> None:
        log: list[str] = []
        manager = BatchingManager(log)
        manager.refuse[B] = errno.EPERM
        work = work_with(manager, LoggingAnnouncer(log))
        manager.add("eth1", C)  # already there: False, as add() says
        results = await asyncio.gather(
            work.change(True, "eth0", [A, B]),
            work.change(True, "eth1", [C]),
            work.change(False, "eth2", [A]),  # not there: False
        )
        assert len(manager.batches) == 1
        assert manager.batches[0] == [
            AddressChange(True, "eth0", A),
            AddressChange(True, "eth0", B),
            AddressChange(True, "eth1", C),
            AddressChange(False, "eth2", A),
        ]
        (added, refused), ([already], [absent]) = results[0], results[1:]
        assert added is True
        assert already is False
        assert absent is False
        assert isinstance(refused, OSError)
        assert refused.errno == errno.EPERM
        assert manager.addresses("eth0") == {A}

    run(scenario())


def test_what_is_asked_while_a_batch_runs_goes_into_the_next_one() -> None:
    async def scenario() -> None:
        log: list[str] = []
        manager = BatchingManager(log)
        manager.gate = threading.Event()
        work = work_with(manager, LoggingAnnouncer(log))
        first = asyncio.ensure_future(work.change(True, "eth0", [A]))
        await asyncio.sleep(0.05)  # the first batch is in the worker, held at the gate
        later = [asyncio.ensure_future(work.change(True, f"eth{i}", [B])) for i in range(1, 6)]
        await asyncio.sleep(0.05)
        manager.gate.set()
        await asyncio.gather(first, *later)
        assert [len(batch) for batch in manager.batches] == [1, 5]

    run(scenario())


def test_the_next_batch_starts_in_the_worker_while_the_loop_is_busy() -> None:
    """During a mass takeover the loop is the busy part: the batch asked while one ran must
    not wait for the loop to come round before it starts (bench/scale.py, 1,000 groups)."""

    async def scenario() -> None:
        log: list[str] = []
        manager = BatchingManager(log)
        manager.gate = threading.Event()
        manager.entered = threading.Event()
        second = threading.Event()
        manager.applied = lambda batches: second.set() if len(batches) == 2 else None
        work = work_with(manager, LoggingAnnouncer(log))
        first = asyncio.ensure_future(work.change(True, "eth0", [A]))
        for _turn in range(3):  # no clock involved: the worker is busy, virtual time stands
            await asyncio.sleep(0)
        assert manager.entered.wait(5)  # the first batch is in the worker, held at the gate
        later = asyncio.ensure_future(work.change(True, "eth1", [B]))
        await asyncio.sleep(0)  # the request is queued
        manager.gate.set()
        # The loop is held here (as by a burst of takeovers): the second batch runs anyway.
        assert second.wait(5), "the second batch waited for the loop"
        assert list(await asyncio.gather(first, later)) == [[True], [True]]

    run(scenario())


def test_address_changes_go_before_announcements_which_go_in_chunks() -> None:
    async def scenario() -> None:
        log: list[str] = []
        manager = BatchingManager(log)
        work = work_with(manager, LoggingAnnouncer(log))
        announcements = [work.announce(f"eth{i}", [A.ip]) for i in range(ANNOUNCE_CHUNK + 3)]
        changes = [work.change(True, f"eth{i}", [A]) for i in range(3)]
        await asyncio.gather(*announcements, *changes)  # the announcements were asked first
        assert log[0] == "apply 3"
        assert log[1:] == [f"announce eth{i}" for i in range(ANNOUNCE_CHUNK + 3)]

    run(scenario())


def test_a_change_asked_during_announcements_waits_for_one_chunk_at_most() -> None:
    async def scenario() -> None:
        log: list[str] = []
        manager = BatchingManager(log)
        work = work_with(manager, LoggingAnnouncer(log))
        announced = asyncio.gather(*(work.announce(f"eth{i}", [A.ip]) for i in range(100)))
        await asyncio.sleep(0)  # the worker starts on the first chunk
        await work.change(True, "eth0", [A])
        assert log.index("apply 1") <= 2 * ANNOUNCE_CHUNK
        await announced
        assert log.count("apply 1") == 1
        assert len(log) == 101

    run(scenario())


def test_a_failed_announcement_fails_only_its_own_request() -> None:
    async def scenario() -> None:
        log: list[str] = []
        announcer = LoggingAnnouncer(log)
        announcer.fail.add("eth1")
        work = work_with(BatchingManager(log), announcer)
        results = await asyncio.gather(
            *(work.announce(f"eth{i}", [A.ip]) for i in range(3)), return_exceptions=True
        )
        assert results[0] is None
        assert results[2] is None
        assert isinstance(results[1], OSError)
        assert results[1].errno == errno.ENETDOWN

    run(scenario())


def test_a_bug_in_a_batch_reaches_each_of_its_requests_and_the_next_batch_runs() -> None:
    async def scenario() -> None:
        log: list[str] = []
        manager = BatchingManager(log)
        manager.bug = RuntimeError("a bug")
        work = work_with(manager, LoggingAnnouncer(log))
        results = await asyncio.gather(
            work.change(True, "eth0", [A]), work.change(True, "eth1", [B]), return_exceptions=True
        )
        assert all(isinstance(r, RuntimeError) for r in results)
        manager.bug = None
        assert await work.change(True, "eth0", [A]) == [True]

    run(scenario())


class RefusingManager(FakeAddressManager):
    """No ``apply``: the worker calls add/remove per address; one address is refused."""

    def add(self, interface: str, address: IPInterface) -> bool:
        if address == B:
            raise OSError(errno.EPERM, "netlink: EPERM")
        return super().add(interface, address)


def test_a_manager_without_apply_is_called_per_address() -> None:
    async def scenario() -> None:
        log: list[str] = []
        manager = RefusingManager()
        work = work_with(manager, LoggingAnnouncer(log))
        added, refused, again = await work.change(True, "eth0", [A, B, A])
        assert (added, again) == (True, False)
        assert isinstance(refused, OSError)
        assert refused.errno == errno.EPERM
        assert [(c.verb, c.address, c.changed) for c in manager.calls] == [
            ("add", A, True),
            ("add", A, False),
        ]

    run(scenario())


@pytest.mark.parametrize("batching", [True, False], ids=["apply", "add-remove"])
def test_the_daemon_reports_each_address_change_and_each_error(batching: bool) -> None:
    """Every group's addresses, in one daemon: the refused one is an event with its error,
    the others are installed and reported, and the refusal is counted."""

    async def scenario() -> None:
        source = "198.51.100.1"
        host = FakeHost(source, {"eth0": FakeSegment()})
        if batching:
            host.addresses = BatchingManager([])
            host.addresses.refuse[B] = errno.EPERM
        else:
            host.addresses = RefusingManager()
        groups = [
            group(source=source, vhid=1, addresses=[str(A), str(B)]),
            group(source=source, vhid=2, addresses=["198.51.100.20/24"]),
        ]
        node = Node(host, groups)
        seen: list[facts.AddressChanged] = []
        node.daemon.stream.subscribe(
            lambda event: (
                seen.append(event.fact) if isinstance(event.fact, facts.AddressChanged) else None
            )
        )
        async with running(node):
            await wait_until(lambda: len(seen) == 3, 3, "both groups claimed")
            by_address = {fact.address: fact for fact in seen}
            assert by_address[str(A)].error == ""
            assert by_address[str(A)].added
            assert by_address["198.51.100.20/24"].error == ""
            assert by_address[str(B)].error == "[Errno 1] netlink: EPERM"
            assert host.addresses.addresses("eth0") == {
                A,
                ipaddress.ip_interface("198.51.100.20/24"),
            }
            counters = {d.config.settings.vhid: d.counters for d in node.daemon.drivers.values()}
            assert (counters[1].address_errors, counters[2].address_errors) == (1, 0)

    run(scenario())


def test_a_change_asked_after_the_executor_shut_down_fails_instead_of_waiting() -> None:
    """At the very end of asyncio.run the default executor is gone: a change asked then must
    fail (and the next one start afresh), not wait for ever."""

    async def scenario() -> None:
        log: list[str] = []
        work = work_with(BatchingManager(log), LoggingAnnouncer(log))
        await asyncio.get_running_loop().shutdown_default_executor()
        with pytest.raises(RuntimeError):
            await asyncio.wait_for(work.change(True, "eth0", [A]), 5)
        assert not work.busy

    asyncio.run(scenario())
