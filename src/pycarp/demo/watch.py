"""Looking at the lab while waiting for something: the board stays current, waits are bounded.

Every wait has a deadline and says what it was waiting for when it runs out (a DemoError, so
the demo stops, tears down and tells the user what did not happen). Conditions on the board
are checked at every look (three netlink address dumps and three log reads); a cheaper probe
(one dump) is polled every few ms when a figure must be precise, e.g. the time from the kill
to the address appearing on the backup. Addresses are read over netlink sockets opened inside
each host's namespace, not with ``ip`` processes: polling must not eat the CPU that the
daemons and the client's ping need for the timings being measured.
"""

from __future__ import annotations

import time
import typing

from pycarp.demo.board import Board, observe, render
from pycarp.demo.plan import HOSTS
from pycarp.lab.naming import HOST_INTERFACE
from pycarp.platform.netlink import NetlinkAddressManager

if typing.TYPE_CHECKING:
    from pycarp.demo.screen import Screen
    from pycarp.lab.daemons import Daemon
    from pycarp.lab.lab import Lab

LOOK_EVERY = 0.1  # seconds between board refreshes while polling a probe
LOOK_INTERVAL = 0.02  # seconds between looks while waiting for the board itself
PROBE_EVERY = 0.002


class DemoError(RuntimeError):
    """The lab did not do what the demo expected; the message says what and when."""


class Watcher:
    """The daemons on the lab's hosts and the board they add up to."""

    def __init__(self, lab: Lab, screen: Screen) -> None:
        self.lab = lab
        self.screen = screen
        self.daemons: dict[str, Daemon] = {}
        self.not_running: dict[str, str] = {}  # host -> why its pycarp is gone
        self.board: Board | None = None
        self._netlink: dict[str, NetlinkAddressManager] = {}

    def peek(self) -> Board:
        """The board now, without showing it."""
        held = {host: self.held(host) for host in HOSTS}
        return observe(held, self.daemons, self.not_running)

    def look(self) -> Board:
        """The board now, shown (redrawn, or printed once it has held still)."""
        self.board = self.peek()
        self.screen.show_board(render(self.board, self.screen.paint, self.screen.marks.holds))
        return self.board

    def show(self) -> Board:
        """Look and put the board out now (a log gets it without waiting for a second look)."""
        board = self.look()
        self.screen.flush()
        return board

    def held(self, host: str) -> set[str]:
        """The virtual addresses on the host's eth0 (its own address left out)."""
        manager = self._netlink.get(host)
        if manager is None:
            with self.lab.inside(host):  # the socket stays in the host's namespace
                manager = self._netlink[host] = NetlinkAddressManager()
        own = {self.lab.ipv4(host).ip, self.lab.ipv6(host).ip}
        found = {address.ip for address in manager.addresses(HOST_INTERFACE)}
        return {str(ip) for ip in found - own if not ip.is_link_local}

    def holds(self, host: str, address: str) -> bool:
        return address in self.held(host)

    def close(self) -> None:
        for manager in self._netlink.values():
            manager.close()
        self._netlink.clear()

    def wait_board(
        self, what: str, condition: typing.Callable[[Board], bool], timeout: float
    ) -> float:
        """Look until ``condition(board)``; seconds it took."""
        return self.wait(
            what, lambda: condition(self.look()), timeout, look=False, every=LOOK_INTERVAL
        )

    def wait(
        self,
        what: str,
        probe: typing.Callable[[], bool],
        timeout: float,
        *,
        look: bool = True,
        every: float = PROBE_EVERY,
    ) -> float:
        """Poll ``probe`` every ``every`` s until true (looking at the board in between, unless
        ``look`` is false: a look takes a few ms, in which the probe would not run); seconds it
        took."""
        started = time.monotonic()
        last_look = 0.0
        while True:
            if probe():
                return time.monotonic() - started
            now = time.monotonic()
            if now - started > timeout:
                raise DemoError(f"{what}: did not happen within {timeout:g} s")
            if look and now - last_look >= LOOK_EVERY:
                self.look()
                last_look = now
            self.screen.status(f"waiting for {what} ... {now - started:.1f} s")
            time.sleep(every)

    def watch(self, seconds: float, what: str, check: typing.Callable[[Board], str | None]) -> None:
        """Keep looking for ``seconds``; ``check`` returns a complaint if the board is wrong."""
        started = time.monotonic()
        while (elapsed := time.monotonic() - started) < seconds:
            complaint = check(self.look())
            if complaint:
                raise DemoError(complaint)
            self.screen.status(f"{what} ... {elapsed:.1f} of {seconds:.1f} s")
            time.sleep(LOOK_INTERVAL)
