"""Every group's address changes and announcements, carried out in batches by one worker.

When a master host dies, its backup takes over all of its groups within a few milliseconds
(bench/scale.py: 1,000 groups). A worker-thread call per group and per address, each waiting
its turn at the netlink socket, made the last address appear a quarter of a second after its
deadline. Here whatever the groups ask while a batch runs goes into the next batch (group
commit), so one thread call carries hundreds of address changes, which the Linux address
manager sends pipelined (``platform/rtnl_address.py``).

Address changes come before announcements: a gratuitous ARP is useless before its address
exists, and announcing group A must not delay group B's address. Announcements are taken in
small chunks, so a change asked meanwhile waits for one chunk at most.

Order is kept per group: a group's queue (``runtime/serial.py``) awaits each change before it
asks for the next, and a batch is carried out in the order asked.
"""

from __future__ import annotations

import asyncio
import functools
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
    """Shared by every group of a daemon; one worker-thread call in flight at a time."""

    def __init__(self, platform: Platform) -> None:
        self._platform = platform
        self._changes: list[_Changes] = []
        self._announcements: list[_Announcement] = []
        self._worker: asyncio.Task[None] | None = None

    async def change(
        self, add: bool, interface: str, prefixes: typing.Sequence[IPInterface]
    ) -> list[Outcome]:
        """Add (or remove) the prefixes; per prefix, in order, its outcome."""
        done: asyncio.Future[list[Outcome]] = asyncio.get_running_loop().create_future()
        self._changes.append(_Changes([AddressChange(add, interface, p) for p in prefixes], done))
        self._wake()
        return await done

    async def announce(self, interface: str, addresses: typing.Sequence[IPAddress]) -> None:
        """Gratuitous ARP / unsolicited NA for the addresses; raises the announcer's OSError."""
        done: asyncio.Future[OSError | None] = asyncio.get_running_loop().create_future()
        self._announcements.append(_Announcement(interface, tuple(addresses), done))
        self._wake()
        error = await done
        if error is not None:
            raise error

    @property
    def busy(self) -> bool:
        """A worker-thread call is running or queued (a takeover should not hold the loop)."""
        return self._worker is not None and not self._worker.done()

    def _wake(self) -> None:
        if self._worker is None or self._worker.done():
            # Started, not run: what else is asked in this turn of the loop joins the batch.
            self._worker = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        try:
            while self._changes or self._announcements:
                if self._changes:
                    changes, self._changes = self._changes, []
                    batches = [request.changes for request in changes]
                    await _in_worker(
                        [r.done for r in changes], functools.partial(self._apply, batches)
                    )
                else:
                    chunk = self._announcements[:ANNOUNCE_CHUNK]
                    del self._announcements[:ANNOUNCE_CHUNK]
                    await _in_worker(
                        [r.done for r in chunk], functools.partial(self._announce, chunk)
                    )
        except asyncio.CancelledError:  # the loop is closing: nobody is left to wait
            for changes_asked in self._changes:
                changes_asked.done.cancel()
            for announcement in self._announcements:
                announcement.done.cancel()
            raise

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


async def _in_worker(futures: list[asyncio.Future[T]], work: typing.Callable[[], list[T]]) -> None:
    """Run ``work`` in a worker thread; hand each future its result (in order)."""
    try:
        results = await asyncio.to_thread(work)
    except asyncio.CancelledError:
        for future in futures:
            future.cancel()
        raise
    except Exception as error:  # a bug: every request of the batch learns of it
        for future in futures:
            if not future.done():
                future.set_exception(error)
        return
    for future, result in zip(futures, results, strict=True):
        if not future.done():  # its waiter may have been cancelled meanwhile
            future.set_result(result)


def _one_by_one(manager: AddressManager, change: AddressChange) -> Outcome:
    """For an address manager without ``apply``: one call per address."""
    method = manager.add if change.add else manager.remove
    try:
        return method(change.interface, change.address)
    except OSError as error:
        return error
