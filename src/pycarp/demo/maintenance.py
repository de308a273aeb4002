"""The maintenance scene: ``pycarp maintenance on`` against the master, then ``off``.

Why it is in the demo: taking a node out of service is what operators do most, and the classic
way to get it wrong is a demotion set by hand and forgotten (pfSense and OPNsense users know
the node that never becomes master again after a reboot, or the one that comes back as master
in the middle of its maintenance). pycarp's maintenance mode is one switch, visible in
``pycarp status`` and kept across restarts, and switching it off takes nothing back: the scene
shows both, with figures from the bridge capture and the daemon's own status document.
"""

from __future__ import annotations

import time
import typing

from pycarp.core import timing
from pycarp.demo import measure
from pycarp.demo.plan import ADVBASE, GROUPS
from pycarp.demo.watch import DemoError
from pycarp.lab.checks import GroupStatus, group_statuses

if typing.TYPE_CHECKING:
    from pycarp.demo.board import Board
    from pycarp.demo.ping import PingResult
    from pycarp.demo.story import Story
    from pycarp.lab.daemons import Daemon

MAINTENANCE_SKEW = timing.MAX_WIRE_ADVSKEW  # what every group advertises in maintenance (240)
LABEL = "maintenance on (bow-out)"


def maintenance(story: Story, vhid: int) -> tuple[float, PingResult]:
    """Maintenance on the master of ``vhid``: a backup takes over each of its groups within its
    own skew; the node stays backup at advskew 240. Then off: its advskew is back, and it stays
    backup. Returns the longest handover (bridge) and the client's pings, for the summary."""
    screen, watcher = story.screen, story.watcher
    masters = watcher.look().masters(vhid)
    if len(masters) != 1:
        raise DemoError(f"vhid {vhid} has masters {masters}, not one")
    node = masters[0]
    daemon = watcher.daemons[node]
    running = {h for h, d in watcher.daemons.items() if d.alive() and h not in watcher.not_running}
    heirs = {g.vhid: heir_of(g.advskew, node, running) for g in GROUPS}
    address = next(g.address for g in GROUPS if g.vhid == vhid)
    pinger = story.ping(address, "maintenance")
    screen.step(f"pycarp maintenance on, against {node}: the operator takes it out of service")
    asked_at = time.time()
    _control(daemon, "on")
    watcher.wait_board(
        "the backups to take over",
        lambda board: all(board.served_by(g.vhid, heirs[g.vhid]) for g in GROUPS),
        timeout=2 * ADVBASE + 1,
    )
    story.watch_pings()
    pings = pinger.stop()
    adverts = story.adverts()
    handovers = {
        g.vhid: measure.handover(adverts, vhid=g.vhid, leaver=story.ip(node), after=asked_at)
        for g in GROUPS
        if g.vhid in heirs
    }
    held = _groups_of(daemon)
    for group in held.values():
        if (group.state, group.advskew_on_wire) != ("BACKUP", MAINTENANCE_SKEW):
            raise DemoError(f"{node} in maintenance: {group}")
    screen.freeze()
    figures = ", ".join(
        f"vhid {g.vhid} {handovers[g.vhid].gap * 1000:.0f} ms "
        f"(its skew {g.advskew[heirs[g.vhid]]}/256 s = "
        f"{g.advskew[heirs[g.vhid]] / timing.SKEW_UNIT * 1000:.0f} ms)"
        for g in GROUPS
    )
    who = " and ".join(sorted(set(heirs.values())))
    screen.result(f"{who} took over within its own skew after {node}'s goodbye: {figures}.")
    screen.detail(
        f"Maintenance makes {node} advertise advskew {MAINTENANCE_SKEW} in every group and "
        "bow out of those it serves. The best backup then waits its own skew (advskew/256 s), "
        "not the 3 s master-down interval; the skews keep two backups from claiming together."
    )
    screen.detail(
        f"{node}'s status (pycarp status): {_states(held)}. {node} advertises advskew "
        f"{MAINTENANCE_SKEW} and stays BACKUP, and it stays in maintenance across a restart "
        "(kept in its state directory), until someone switches it off: one visible switch, "
        "not a demotion counter set by hand and stranded, the classic trap pfSense and "
        "OPNsense users fall into after a reboot or an upgrade."
    )
    screen.detail(story.client_line(pings, address))
    _switch_off(story, node, daemon, heirs)
    return max(h.gap for h in handovers.values()), pings


def _switch_off(story: Story, node: str, daemon: Daemon, heirs: dict[int, str]) -> None:
    """``maintenance off``: the configured advskew is back on the wire, and nothing moves."""
    screen, watcher = story.screen, story.watcher
    screen.step(f"pycarp maintenance off, against {node}")
    _control(daemon, "off")
    hold = max(g.advert_interval(heirs[g.vhid]) for g in GROUPS) + 0.3

    def nothing_moves(board: Board) -> str | None:
        moved = [g.vhid for g in GROUPS if not board.served_by(g.vhid, heirs[g.vhid])]
        return f"vhid {moved} moved although preempt is off" if moved else None

    watcher.watch(hold, f"watching whether {node} takes a group back", nothing_moves)
    held = _groups_of(daemon)
    for g in GROUPS:
        found = held[g.vhid]
        if (found.state, found.advskew_on_wire) != ("BACKUP", g.advskew[node]):
            raise DemoError(f"{node} after maintenance off: {found}")
    screen.freeze()
    skews = ", ".join(f"vhid {g.vhid} {g.advskew[node]}" for g in GROUPS)
    screen.result(
        f"{node} advertises its own advskew again ({skews}) and stays backup: no takeover."
    )
    screen.detail(
        f"Preemption is off, so {node} waits for a master to fail or leave, even where its "
        "advskew is the better one: ending maintenance costs the clients no second "
        "interruption."
    )


def heir_of(advskew: typing.Mapping[str, int], leaver: str, running: set[str]) -> str:
    """The running backup with the lowest advskew: the one whose timer runs out first."""
    ranked = sorted((skew, host) for host, skew in advskew.items() if host in running)
    candidates = [host for _skew, host in ranked if host != leaver]
    if not candidates:
        raise DemoError("no backup left to take over")
    return candidates[0]


def _control(daemon: Daemon, setting: str) -> None:
    done = daemon.control("maintenance", setting)
    if done.returncode != 0:
        said = (done.stderr or done.stdout).strip()
        raise DemoError(f"pycarp maintenance {setting} on {daemon.node} failed: {said}")


def _groups_of(daemon: Daemon) -> dict[int, GroupStatus]:
    return group_statuses(daemon.status())


def _states(groups: dict[int, GroupStatus]) -> str:
    return ", ".join(
        f"vhid {vhid} {g.state} advskew {g.advskew_on_wire}" for vhid, g in sorted(groups.items())
    )
