"""Every group's address changes and announcements, carried out in batches by one worker.

When a master host dies, its backup takes over all of its groups within a few milliseconds
(bench/scale.py: 1,000 groups). A worker-thread call per group and per address, each waiting
its turn at the netlink socket, made the last address appear a quarter of a second after its
deadline. Here whatever the groups ask while a batch runs goes into the next batch (group
commit), which the same thread call then takes without going back to the event loop, so one
call carries a whole burst; the Linux address manager sends each batch pipelined
(``platform/rtnl_address.py``).

Address changes come before announcements: a gratuitous ARP is useless before its address
exists, and announcing group A must not delay group B's address. Announcements are taken in
small chunks, so a change asked meanwhile waits for one chunk at most.

Order is kept per group: a group's queue (``runtime/serial.py``) awaits each change before it
asks for the next (a takeover's claim is asked at once only when that queue is idle:
``GroupDriver._ask_claim``), and a batch is carried out in the order asked.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import typing

from pycarp.core.constants import IPAddress, IPInterface
from pycarp.platform.ports import AddressBatches, AddressChange, AddressManager, Platform

T = typing.TypeVar("T")
Outcome = bool | OSError  # per address: changed, already so, or why not
ANNOUNCE_CHUNK = 16  # announcements per worker call, between two batches of address changes


class _Changes(typing.NamedTuple):
    changes: list[AddressChange]
    done: asyncio.Future[list[Outcome]]


class _Announcement(typing.NamedTuple):
    interface: str
    addresses: tuple[IPAddress, ...]
    done: asyncio.Future[OSError | None]


class AddressWork:
    """Shared by every group of a daemon; one worker-thread call in flight at a time.

    The call keeps going while there is work: a batch asked while the previous one ran starts
    as soon as that one is done, in the thread, without waiting for the event loop to come
    round. During 1,000 takeovers the loop is the busy part (adverts, state changes, events,
    logs): handing each batch back to it before the next could start left the worker idle for
    40 ms at a time while addresses waited (bench/scale.py, 1,000 groups).
    """

    def __init__(self, platform: Platform) -> None:
        self._platform = platform
        self._lock = threading.Lock()  # the two lists and the flag: the loop adds, the thread takes
        self._changes: list[_Changes] = []
        self._announcements: list[_Announcement] = []
        self._running = False  # a worker-thread call is scheduled or running

    async def change(
        self, add: bool, interface: str, prefixes: typing.Sequence[IPInterface]
    ) -> list[Outcome]:
        """Add (or remove) the prefixes; per prefix, in order, its outcome."""
        return await self.ask(add, interface, prefixes)

    def ask(
        self, add: bool, interface: str, prefixes: typing.Sequence[IPInterface]
    ) -> asyncio.Future[list[Outcome]]:
        """:meth:`change`, asked now (in the calling turn of the loop) and awaited later."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[list[Outcome]] = loop.create_future()
        request = _Changes([AddressChange(add, interface, p) for p in prefixes], done)
        with self._lock:
            self._changes.append(request)
        self._wake(loop)
        return done

    async def announce(self, interface: str, addresses: typing.Sequence[IPAddress]) -> None:
        """Gratuitous ARP / unsolicited NA for the addresses; raises the announcer's OSError."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[OSError | None] = loop.create_future()
        with self._lock:
            self._announcements.append(_Announcement(interface, tuple(addresses), done))
        self._wake(loop)
        error = await done
        if error is not None:
            raise error

    @property
    def busy(self) -> bool:
        """A worker-thread call is running or queued (a takeover should not hold the loop)."""
        return self._running

    def _wake(self, loop: asyncio.AbstractEventLoop) -> None:
        with self._lock:
            if self._running:
                return  # the running call takes it after its current batch
            self._running = True
        # Started on the next turn, not now: what else is asked in this turn joins the batch.
        loop.call_soon(self._start, loop)

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            job = loop.run_in_executor(None, self._drain, loop)
        except RuntimeError as error:  # the loop is shutting its executor down
            self._fail_waiting(error)
            return
        job.add_done_callback(self._ended)

    def _ended(self, job: asyncio.Future[None]) -> None:
        """A call that died of something other than its work (a bug here): say so to whoever
        waits, so that nobody waits for ever, and let the next request start a new call."""
        error = None if job.cancelled() else job.exception()
        if error is not None:
            self._fail_waiting(error)

    def _fail_waiting(self, error: BaseException) -> None:
        with self._lock:
            self._running = False
            waiting: list[asyncio.Future[typing.Any]] = [r.done for r in self._changes]
            waiting += [a.done for a in self._announcements]
            self._changes, self._announcements = [], []
        _settle_all(waiting, error)

    def _drain(self, loop: asyncio.AbstractEventLoop) -> None:
        """In the worker thread: address changes first, then announcements in chunks, until
        nothing is left; each batch's outcomes go to the loop as soon as it is done."""
        while True:
            with self._lock:
                if self._changes:
                    changes, self._changes = self._changes, []
                    futures: list[asyncio.Future[typing.Any]] = [r.done for r in changes]
                    work: typing.Callable[[], list[typing.Any]] = functools.partial(
                        self._apply, [r.changes for r in changes]
                    )
                elif self._announcements:
                    chunk = self._announcements[:ANNOUNCE_CHUNK]
                    del self._announcements[:ANNOUNCE_CHUNK]
                    futures = [r.done for r in chunk]
                    work = functools.partial(self._announce, chunk)
                else:
                    self._running = False
                    return
            try:
                results: list[typing.Any] | BaseException = work()
            except Exception as error:  # a bug: every request of the batch learns of it
                results = error
            try:
                loop.call_soon_threadsafe(_settle_all, futures, results)
            except RuntimeError:  # the loop is closed: nobody is left to wait
                with self._lock:
                    self._running = False
                return

    def _apply(self, batches: list[list[AddressChange]]) -> list[list[Outcome]]:
        """In the worker thread: every change of every request, then split back per request."""
        flat = [change for batch in batches for change in batch]
        manager = self._platform.addresses
        if isinstance(manager, AddressBatches):
            outcomes = manager.apply(flat)
        else:
            outcomes = [_one_by_one(manager, change) for change in flat]
        split: list[list[Outcome]] = []
        start = 0
        for batch in batches:
            split.append(outcomes[start : start + len(batch)])
            start += len(batch)
        return split

    def _announce(self, chunk: list[_Announcement]) -> list[OSError | None]:
        """In the worker thread: each announcement on its own; a failure stops no other."""
        errors: list[OSError | None] = []
        for request in chunk:
            try:
                self._platform.announcer.announce(request.interface, request.addresses)
            except OSError as error:
                errors.append(error)
            else:
                errors.append(None)
        return errors


def _settle_all(
    futures: list[asyncio.Future[T]], results: typing.Sequence[T] | BaseException
) -> None:
    """On the loop: hand each future its result (in order), or every one the error."""
    for index, future in enumerate(futures):
        if future.done():  # its waiter was cancelled meanwhile
            continue
        if isinstance(results, BaseException):
            future.set_exception(results)
        else:
            future.set_result(results[index])


def _one_by_one(manager: AddressManager, change: AddressChange) -> Outcome:
    """For an address manager without ``apply``: one call per address."""
    method = manager.add if change.add else manager.remove
    try:
        return method(change.interface, change.address)
    except OSError as error:
        return error
