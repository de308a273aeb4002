"""What the fault tests share: one CARP group of pycarp daemons on lab hosts, and how it is judged.

No tests live here; the ``test_faults_*`` files import it. A group is judged from outside, as
an operator would: the state changes each daemon publishes (``state_changed`` events, with the
daemon's monotonic time, to measure how long a false takeover lasted), the addresses the
kernel of each host carries (``ip addr``, through :mod:`pycarp.lab.checks`), and, where a blip
between two looks must not be missed, the kernel's own address events (``ip monitor address``).

Bounds are derived from the protocol at advbase 1 and dead ratio 3, plus generous slack: the
machine has two cores shared with other namespace tests. Exact figures belong in ``bench/``.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import pathlib
import subprocess
import time
import typing
from collections.abc import Sequence

from pycarp.core.timing import master_down_interval
from pycarp.lab import Lab
from pycarp.lab.checks import holders, last_state
from pycarp.lab.daemons import Daemon, start_pycarp, wait_for
from pycarp.lab.naming import HOST_INTERFACE, LabError

VIRTUAL_V4 = "198.51.100.100"
VIRTUAL_V6 = "2001:db8::100"
VHID = 1
DEFAULT_ADDRESS = f"{VIRTUAL_V4}/24"
ADVBASE = 1
DEAD_RATIO = 3
POLL = 0.05  # seconds between looks; each look runs `ip addr` once per host
SLACK = 3.0  # seconds added to every protocol-derived bound (shared, busy machine)

# The host that should be master, then the backups in order of preference.
SKEWS = {"h1": 0, "h2": 100, "h3": 200}


def master_down(advskew: int) -> float:
    """How long a backup with ``advskew`` listens to silence before it takes over."""
    return master_down_interval(ADVBASE, advskew, DEAD_RATIO)


STARTUP = master_down(max(SKEWS.values())) + SLACK  # a fresh group elects its first master
SETTLE = 2 * ADVBASE + SLACK  # one advert (plus one lost) decides: preempt, step-down
STEADY = master_down(0) + 1.0  # longer than any master-down interval: a wrong takeover shows


@dataclasses.dataclass(frozen=True, slots=True)
class StateChange:
    """One state change; ``at`` is the daemon's monotonic clock (the event's ``mono``), which
    every namespace shares and a jumping wall clock does not move."""

    at: float
    vhid: int
    old: str
    new: str
    reason: str


def state_changes(daemon: Daemon, vhid: int = VHID) -> list[StateChange]:
    """Every state change the daemon published for ``vhid``, in order."""
    return [
        StateChange(at=e["mono"], vhid=e["vhid"], old=e["old"], new=e["new"], reason=e["reason"])
        for e in daemon.events("state_changed")
        if e["vhid"] == vhid
    ]


def current_state(daemon: Daemon, vhid: int = VHID) -> str | None:
    """The state the daemon last entered for ``vhid`` (None before its first change)."""
    return last_state(daemon, vhid)


def master_episodes(daemon: Daemon) -> list[float]:
    """How long each of the daemon's terms as MASTER lasted (a term still running: left out)."""
    durations = []
    started: float | None = None
    for change in state_changes(daemon):
        if change.new == "MASTER":
            started = change.at
        elif change.old == "MASTER" and started is not None:
            durations.append(change.at - started)
            started = None
    return durations


class AddressWatch:
    """The kernel's address events on one host's ``eth0`` (``ip -o monitor address``).

    Looking with ``ip addr`` every few tens of milliseconds can miss an address that was
    removed and re-added in between; the monitor reports every change, as it happens.
    """

    def __init__(self, lab: Lab, node: str, path: pathlib.Path) -> None:
        self.node = node
        self.path = path
        with path.open("wb") as sink:
            self._process = lab.popen(
                node,
                ["ip", "-o", "monitor", "address", "dev", HOST_INTERFACE],
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        time.sleep(0.2)  # `ip monitor` subscribes before its first read; give it that moment

    def events(self, address: str) -> list[str]:
        """'added' / 'deleted' for ``address``, in the order the kernel reported them."""
        wanted = ipaddress.ip_address(address)
        found = []
        for line in self.path.read_text(errors="replace").splitlines():
            fields = line.split()
            deleted = bool(fields) and fields[0] == "Deleted"
            words = fields[1:] if deleted else fields
            family = next((i for i, word in enumerate(words) if word in ("inet", "inet6")), None)
            if family is None or family + 1 >= len(words):
                continue
            if ipaddress.ip_interface(words[family + 1]).ip == wanted:
                found.append("deleted" if deleted else "added")
        return found

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
            self._process.wait(timeout=5)


class Group:
    """pycarp daemons sharing vhid 1 on lab hosts, started and judged by node name.

    ``python_code``, if given, is run as ``python -c CODE ARGS`` instead of ``python -m
    pycarp ARGS`` (to start the daemon under a changed environment, e.g. a fake clock).
    """

    def __init__(
        self, lab: Lab, workdir: pathlib.Path, *, tag: str = "", python_code: str | None = None
    ) -> None:
        self.lab = lab
        self.workdir = workdir
        self.tag = tag
        self.python_code = python_code
        self.daemons: dict[str, Daemon] = {}

    def start(
        self,
        node: str,
        *,
        advskew: int | None = None,
        source: str | None = None,
        v6: bool = False,
        addresses: Sequence[str] = (DEFAULT_ADDRESS,),
        extra: Sequence[str] = (),
    ) -> Daemon:
        """``pycarp -i eth0 -s SOURCE -v 1 -b 1 -k SKEW -a ADDR...`` on ``node``.

        SOURCE is the node's own IPv4 address (IPv6 with ``v6``) unless ``source`` is given.
        """
        skew = SKEWS[node] if advskew is None else advskew
        own = self.lab.ipv6(node) if v6 else self.lab.ipv4(node)
        args = ["-i", HOST_INTERFACE, "-s", source or str(own.ip), "-v", str(VHID)]
        args += ["-b", str(ADVBASE), "-r", str(DEAD_RATIO), "-k", str(skew)]
        for address in addresses:
            args += ["-a", address]
        args += extra
        program = ("-m", "pycarp") if self.python_code is None else ("-c", self.python_code)
        daemon = start_pycarp(
            self.lab, node, args, workdir=self.workdir, tag=self.tag, program=program
        )
        self.daemons[node] = daemon
        return daemon

    def start_all(self, nodes: Sequence[str], **options: typing.Any) -> None:
        for node in nodes:
            self.start(node, **options)

    def elect(self, master: str, backups: Sequence[str], **options: typing.Any) -> None:
        """Start ``master`` alone until it holds the address, then the backups.

        Started together, a busy machine can start the preferred host late enough for a
        backup's timer to win, and without preemption that backup stays master: a test that
        needs a known master must not depend on process start-up order.
        """
        self.start(master, **options)
        address = str(ipaddress.ip_interface(options.get("addresses", [DEFAULT_ADDRESS])[0]).ip)
        self.wait_converged(master, STARTUP, address)
        self.start_all(backups, **options)
        self.wait_started(backups)

    def wait_started(self, nodes: Sequence[str]) -> None:
        """Block until each of ``nodes`` has entered its first state (it is listening)."""
        wait_for(lambda: all(current_state(self[node]) for node in nodes), SLACK, POLL)

    def __getitem__(self, node: str) -> Daemon:
        return self.daemons[node]

    def masters(self) -> list[str]:
        """Live daemons whose last state is MASTER, in lab order."""
        return [
            node
            for node, daemon in self.daemons.items()
            if daemon.alive() and current_state(daemon) == "MASTER"
        ]

    def holders(self, address: str = VIRTUAL_V4) -> list[str]:
        """The group's hosts whose ``eth0`` carries ``address``, in lab order."""
        return holders(self.lab, address, list(self.daemons))

    def converged_on(self, address: str = VIRTUAL_V4) -> str | None:
        """The one master, if exactly one daemon says MASTER and only its host has the address."""
        masters = self.masters()
        if len(masters) == 1 and self.holders(address) == masters:
            return masters[0]
        return None

    def wait_converged(
        self, expected: str | None, timeout: float, address: str = VIRTUAL_V4
    ) -> str:
        """Block until one master (``expected``, if given) alone holds ``address``; returns it."""
        found: list[str] = []

        def done() -> bool:
            master = self.converged_on(address)
            if master is None or expected not in (None, master):
                return False
            found.append(master)
            return True

        try:
            wait_for(done, timeout, POLL)
        except LabError:
            raise LabError(
                f"no single master{' ' + expected if expected else ''} holding {address} within "
                f"{timeout:g} s (masters {self.masters()}, holders {self.holders(address)})\n"
                + self.report()
            ) from None
        return found[-1]

    def assert_steady(self, master: str, seconds: float, address: str = VIRTUAL_V4) -> None:
        """For ``seconds``: nobody changes state and only ``master`` holds ``address``."""
        before = {node: state_changes(daemon) for node, daemon in self.daemons.items()}
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.assert_alive()
            assert self.holders(address) == [master], self.report()
            for node, daemon in self.daemons.items():
                assert state_changes(daemon) == before[node], f"{node} moved\n{self.report()}"
            time.sleep(POLL)

    def assert_alive(self) -> None:
        for node, daemon in self.daemons.items():
            assert daemon.alive(), f"pycarp on {node} exited\n{daemon.log()[-3000:]}"

    def report(self) -> str:
        """Each daemon's state history, for failure messages."""
        lines = []
        for node, daemon in self.daemons.items():
            history = ", ".join(f"{c.old}->{c.new} ({c.reason})" for c in state_changes(daemon))
            lines.append(f"{node} alive={daemon.alive()}: {history}")
        return "\n".join(lines)
