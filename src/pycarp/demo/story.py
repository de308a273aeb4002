"""The demo's steps, in order: elect, crash a master, bring it back, stop a master cleanly,
put the remaining master in maintenance and take it out again (demo/maintenance.py), kill the
web server (not the host) of the master and watch its health track move the addresses
(demo/service.py).

Each step does one thing to the lab, waits (bounded) for the outcome, then says what happened
with measured figures and why CARP behaves that way. Anything unexpected raises DemoError:
a demo that quietly shows the wrong thing would teach the wrong thing.
"""

from __future__ import annotations

import dataclasses
import pathlib
import signal
import subprocess
import time
import typing

from pycarp.demo import measure
from pycarp.demo.maintenance import LABEL as MAINTENANCE_LABEL
from pycarp.demo.maintenance import maintenance
from pycarp.demo.ping import Pinger, PingResult, client_line
from pycarp.demo.plan import ADVBASE, DEAD_RATIO, GROUPS, HOSTS, group_of, write_host_config
from pycarp.demo.service import LABEL as SERVICE_LABEL
from pycarp.demo.service import service_outage, start_servers
from pycarp.demo.watch import DemoError, Watcher
from pycarp.lab.capture import Advert, AdvertCapture
from pycarp.lab.daemons import start_pycarp, wait_for
from pycarp.lab.naming import CLIENT, LabError

if typing.TYPE_CHECKING:
    from pycarp.demo.board import Board
    from pycarp.demo.screen import Screen
    from pycarp.lab.daemons import Daemon
    from pycarp.lab.lab import Lab

CRASHED, RESCUER = "h1", "h2"  # h1 serves vhid 1; h2 (next lowest advskew) should take it
TARGET = group_of("198.51.100.100")
PING_LEAD = 0.5  # seconds of normal pings before each fault, so the outage has edges
PING_TAIL = 0.6  # and after the takeover
RUNNING = ("MASTER", "backup")


@dataclasses.dataclass(frozen=True)
class Outage:
    """One row of the summary: a way of losing the master, and what it cost."""

    label: str
    without_master: float  # seconds, from the bridge capture
    pings: PingResult


class Story:
    def __init__(self, lab: Lab, workdir: pathlib.Path, screen: Screen) -> None:
        self.lab = lab
        self.workdir = workdir
        self.screen = screen
        self.watcher = Watcher(lab, screen)
        self.configs = {host: write_host_config(lab, host, workdir) for host in HOSTS}
        self.outages: list[Outage] = []
        self.servers: dict[str, subprocess.Popen[bytes]] = {}
        self._capture: AdvertCapture | None = None
        self._runs = dict.fromkeys(HOSTS, 0)

    # -- the whole story ----------------------------------------------------------------------

    def run(self) -> None:
        self.introduce()
        self.servers = start_servers(self)
        try:
            with AdvertCapture(self.lab, self.workdir / "bridge.pcap") as capture:
                self._capture = capture
                self.elect()
                self.crash()
                self.recover()
                self.bow_out()
                # Planned (maintenance) and service (health track) hand-overs: rows of the
                # summary next to the crash and the clean stop.
                self.outages.append(Outage(MAINTENANCE_LABEL, *maintenance(self, TARGET.vhid)))
                self.outages.append(Outage(SERVICE_LABEL, *service_outage(self, TARGET.vhid)))
        finally:
            self._capture = None
            self.watcher.close()

    def introduce(self) -> None:
        say, lab, mark = self.screen.line, self.lab, self.screen.marks.holds
        say("pycarp demo: three hosts share two addresses with CARP; we crash one and watch.")
        say()
        say(f"  lab {lab.name} (namespaces {lab.names.prefix}*): hosts h1, h2, h3")
        say(f"  ({lab.ipv4('h1').ip}, .2, .3) and a client (.250) on one switch.")
        say(f"  Each host runs one pycarp with two groups; advbase {ADVBASE} s, preempt off:")
        label_width = 30
        say(" " * label_width + "".join(host.ljust(14) for host in HOSTS).rstrip())
        for group in GROUPS:
            label = f"    vhid {group.vhid}  {group.address}".ljust(label_width)
            skews = "".join(f"advskew {group.advskew[host]}".ljust(14) for host in HOSTS)
            say((label + skews).rstrip())
        first, second = GROUPS
        say(
            f"  The lowest advskew wins, so {first.preferred} should serve {first.short} and "
            f"{second.preferred} {second.short}:"
        )
        say("  both do useful work and back each other up; h3 is the last resort for both.")
        say("  A master advertises every advbase + advskew/256 s; backups take over when the")
        say(f"  adverts stop. On the board below, {mark} = holds the group's address (stale: it")
        say("  is still on a host that is not the group's master).")
        say()

    # -- steps --------------------------------------------------------------------------------

    def elect(self) -> None:
        self.screen.step(f"starting pycarp on {', '.join(HOSTS)} (configs in {self.workdir})")
        for host in HOSTS:
            self._start(host)
        up = self.watcher.wait(
            "pycarp to start on every host",
            lambda: all(cell.state in RUNNING for _key, cell in self.watcher.peek().cells),
            timeout=15,
            look=False,
        )
        took = self.watcher.wait_board(
            "the first election",
            lambda board: all(board.served_by(g.vhid, g.preferred) for g in GROUPS),
            timeout=10,
        )
        first, second = GROUPS
        self.screen.freeze()
        downs = ", ".join(
            f"{first.master_down(host):.2f} s with advskew {first.advskew[host]}"
            for host in first.ranked()
        )
        self.screen.result(
            f"{first.preferred} is MASTER of vhid {first.vhid}, {second.preferred} of vhid "
            f"{second.vhid}: {took:.2f} s after every pycarp was up (start-up took {up:.1f} s)."
        )
        self.screen.detail(
            "Every host starts as backup. Hearing no adverts, each waits out its master-down "
            f"interval, {DEAD_RATIO} {self.screen.marks.times} advbase + advskew/256: {downs}. "
            "The advskew-0 host of each group gets there first; its adverts then reset the "
            "others' timers."
        )

    def crash(self) -> None:
        address = TARGET.address
        pinger = self.ping(address, "crash")
        self.screen.step(f"{CRASHED} crashes: kill -9 its pycarp and pull its cable")
        self.screen.detail(
            f"(kill -9 alone would leave {address} on {CRASHED}'s eth0, still answering "
            "pings; a crashed host does not answer, hence the cable)"
        )
        killed_at = time.time()
        self.watcher.not_running[CRASHED] = "killed"
        self.watcher.daemons[CRASHED].kill()
        self.lab.cut(CRASHED)
        self.watcher.show()
        to_address = self.watcher.wait(
            f"{RESCUER} to take over {address}",
            lambda: self.watcher.holds(RESCUER, address),
            timeout=3 * DEAD_RATIO * ADVBASE,
            look=False,
        )
        self.watcher.wait_board(
            f"{RESCUER} as MASTER of vhid {TARGET.vhid}",
            lambda board: board.masters(TARGET.vhid) == [RESCUER],
            timeout=5,
        )
        self.watcher.watch(PING_TAIL, "letting the client's pings run", _anything)
        pings = pinger.stop()
        figures = measure.takeover(
            self.adverts(),
            vhid=TARGET.vhid,
            old=self.ip(CRASHED),
            new=self.ip(RESCUER),
            killed_at=killed_at,
        )
        self.screen.freeze()
        arrow, last = self.screen.marks.arrow, TARGET.ranked()[-1]
        self.screen.result(
            f"{RESCUER} took over vhid {TARGET.vhid}: it is MASTER and holds {address}."
        )
        self.screen.detail(
            f"On the wire, {CRASHED}'s last advert {arrow} {RESCUER}'s first: "
            f"{figures.gap:.2f} s. That is {RESCUER}'s master-down interval, "
            f"{TARGET.master_down_formula(RESCUER, self.screen.marks.times)} = "
            f"{TARGET.master_down(RESCUER):.2f} s, counted from the last advert it heard."
        )
        self.screen.detail(
            f"kill {arrow} {address} on {RESCUER}: {to_address:.2f} s (that last advert came "
            f"{figures.heard_before_kill:.2f} s before the kill)."
        )
        self.screen.detail(self.client_line(pings, address))
        self.screen.detail(
            f"{last} (advskew {TARGET.advskew[last]}) would have waited "
            f"{TARGET.master_down(last):.2f} s; it heard {RESCUER}'s advert first and stayed "
            "backup."
        )
        self.outages.append(Outage("crash (kill -9, cable out)", figures.gap, pings))

    def recover(self) -> None:
        address = TARGET.address
        self.screen.step(f"{CRASHED} comes back: cable plugged in, pycarp restarted")
        self.lab.heal(CRASHED)
        daemon = self._start(CRASHED)
        self.watcher.wait_board(
            f"{CRASHED} to rejoin as backup",
            lambda board: all(
                board.cell(g.vhid, CRASHED).state == "backup"
                and not board.cell(g.vhid, CRASHED).holds
                for g in GROUPS
            ),
            timeout=10,
        )
        self.screen.freeze()
        cleaned = self._removed_at_start(daemon, address)
        self.screen.result(
            f"{CRASHED} is back as backup for both groups."
            + (
                f" Its pycarp found {address} still on eth0 (left behind by kill -9) and "
                f"removed it at start-up, so only {RESCUER} answers for it."
                if cleaned
                else ""
            )
        )
        hold = max(group.master_down(CRASHED) for group in GROUPS) + 0.6
        self.screen.step(
            f"watching for {hold:.1f} s: {CRASHED} has the better advskew for vhid "
            f"{TARGET.vhid} ({TARGET.advskew[CRASHED]} < {TARGET.advskew[RESCUER]}). "
            f"Will it take {address} back?"
        )
        self.watcher.watch(hold, f"watching whether {CRASHED} takes over", self._no_preemption)
        self.screen.result(f"No: {CRASHED} stays backup, because preemption is off (the default).")
        self.screen.detail(
            "Without preemption a backup takes over only when the master falls silent. "
            f"{RESCUER} advertises vhid {TARGET.vhid} every "
            f"{TARGET.advert_interval(RESCUER):.2f} s (advbase + advskew/256), well within "
            f"{CRASHED}'s {TARGET.master_down(CRASHED):.2f} s master-down interval, so "
            f"{CRASHED} never gets to act. With preempt = true it would take {address} back "
            "at once: a second interruption for the clients, for no gain."
        )

    def bow_out(self) -> None:
        leaver, heir = RESCUER, CRASHED
        pinger = self.ping(TARGET.address, "bow-out")
        self.screen.step(f"stopping pycarp on {leaver} cleanly (SIGTERM): it bows out")
        sent_at = time.time()
        self.watcher.not_running[leaver] = "stopped"
        self.watcher.daemons[leaver].signal(signal.SIGTERM)
        to_address = self.watcher.wait(
            f"{heir} to take over {TARGET.address}",
            lambda: self.watcher.holds(heir, TARGET.address),
            timeout=2 * ADVBASE + 1,
            look=False,
        )
        self.watcher.wait_board(
            f"{heir} as MASTER of both groups",
            lambda board: all(board.served_by(g.vhid, heir) for g in GROUPS),
            timeout=5,
        )
        status = self.watcher.daemons[leaver].process.wait(timeout=10)
        if status != 0:
            raise DemoError(f"pycarp on {leaver} exited with status {status} after SIGTERM")
        self.watch_pings()
        pings = pinger.stop()
        adverts = self.adverts()
        handovers = {
            g.vhid: measure.handover(adverts, vhid=g.vhid, leaver=self.ip(leaver), after=sent_at)
            for g in GROUPS
        }
        self.screen.freeze()
        arrow = self.screen.marks.arrow
        gaps = ", ".join(f"vhid {vhid} {h.gap * 1000:.0f} ms" for vhid, h in handovers.items())
        first_bow = min(h.bowed_at for h in handovers.values())
        self.screen.result(f"{heir} took over both groups right after {leaver}'s goodbye ({gaps}).")
        self.screen.detail(
            'On SIGTERM pycarp sends one last advert with advbase 255, advskew 255 ("I am '
            'leaving") and removes its addresses. A backup that hears it takes over at once '
            f"instead of waiting out {TARGET.master_down(heir):.0f}+ s of silence. "
            f"SIGTERM {arrow} goodbye on the wire: {(first_bow - sent_at) * 1000:.0f} ms; "
            f"SIGTERM {arrow} {TARGET.address} on {heir}: {to_address * 1000:.0f} ms."
        )
        answered = sorted(
            {self._host(source) for h in handovers.values() for source in h.sources} - {heir}
        )
        for host in answered:
            held = measure.address_held(self.watcher.daemons[host].events(), TARGET.address)
            self.screen.detail(
                f"{host} answered the goodbye too (every backup that hears it does) and stepped "
                f"back down on hearing {heir}'s faster advert."
                + (
                    f" Its queued address change ran anyway: it held {TARGET.address} for "
                    f"{held * 1000:.0f} ms and announced it, drawing the client's pings away "
                    f"from {heir} for that long."
                    if held is not None
                    else ""
                )
            )
        self.screen.detail(self.client_line(pings, TARGET.address))
        worst = max(h.gap for h in handovers.values())
        self.outages.append(Outage("clean stop (SIGTERM)", worst, pings))

    def restore(self) -> None:
        """For --keep: start the stopped pycarp again so all three hosts run one."""
        for host in HOSTS:
            if host in self.watcher.not_running:
                self.screen.step(f"restarting pycarp on {host}, so that every host runs one")
                self._start(host)
        try:
            self.watcher.wait_board(
                "every pycarp to settle",
                lambda board: all(cell.state in RUNNING for _key, cell in board.cells),
                timeout=10,
            )
            self.screen.freeze()
        finally:
            self.watcher.close()

    def summary_lines(self) -> list[str]:
        """The outages side by side: what a crash costs against a clean stop."""
        header = f"{'':<28}{'no master':>12}{'pings lost':>14}{'no replies':>14}"
        lines = [header]
        for outage in self.outages:
            pings = outage.pings
            lost = f"{pings.lost} of {pings.transmitted}"
            lines.append(
                f"{outage.label:<28}{outage.without_master * 1000:>9.0f} ms{lost:>14}"
                f"{pings.longest_silence * 1000:>11.0f} ms"
            )
        return lines

    # -- helpers ------------------------------------------------------------------------------

    @property
    def daemons(self) -> dict[str, Daemon]:
        return dict(self.watcher.daemons)

    def _start(self, host: str) -> Daemon:
        self._runs[host] += 1
        tag = "" if self._runs[host] == 1 else f"-{self._runs[host]}"
        daemon = start_pycarp(
            self.lab, host, ["--config", str(self.configs[host])], workdir=self.workdir, tag=tag
        )
        self.watcher.daemons[host] = daemon
        self.watcher.not_running.pop(host, None)
        return daemon

    def ping(self, address: str, name: str) -> Pinger:
        self.screen.step(f"the client starts pinging {address}, about every 10 ms")
        pinger = Pinger(self.lab, CLIENT, address, self.workdir / f"ping-{name}.txt")
        self.watcher.watch(PING_LEAD, "letting the client's pings run", _anything)
        return pinger

    def watch_pings(self) -> None:
        """Let the client's pings run on after a takeover, so the outage has an end."""
        self.watcher.watch(PING_TAIL, "letting the client's pings run", _anything)

    def _no_preemption(self, board: Board) -> str | None:
        if board.served_by(TARGET.vhid, RESCUER):
            return None
        return (
            f"vhid {TARGET.vhid} moved away from {RESCUER} although preempt is off: "
            f"masters {board.masters(TARGET.vhid)}, holders {board.holders(TARGET.vhid)}"
        )

    def client_line(self, pings: PingResult, address: str) -> str:
        return client_line(self.lab, pings, address, HOSTS)

    @staticmethod
    def _removed_at_start(daemon: Daemon, address: str) -> bool:
        """pycarp removed ``address`` (left behind by kill -9) as it started: its
        ``address_changed`` event, which may follow the board's settling by a moment."""

        def removed() -> bool:
            return any(
                not event["added"]
                and not event["error"]
                and event["address"].startswith(address + "/")
                for event in daemon.events("address_changed")
            )

        try:
            wait_for(removed, 1.0)
        except LabError:
            return False
        return True

    def adverts(self) -> list[Advert]:
        assert self._capture is not None
        return self._capture.adverts()

    def ip(self, host: str) -> str:
        return str(self.lab.ipv4(host).ip)

    def _host(self, ip: str) -> str:
        return next((host for host in HOSTS if self.ip(host) == ip), ip)


def _anything(_board: Board) -> str | None:
    """A watch that only keeps the board current."""
    return None
