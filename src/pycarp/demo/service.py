"""The health-track scene: kill the web server, not the host.

Why it is in the demo: CARP alone moves the address when a *host* dies, but what clients want
is the *service*, and the outage users actually meet is a crashed web server on a healthy host,
still advertising, still holding the address, answering pings but not requests. Each demo host
runs a tiny web server (``python3 -m http.server``) and a fault track checking it (plan.py):
the scene kills the server on the master of vhid 1, shows the address moving with the time
from the kill to the takeover, explains it (``fall x interval`` of failed checks, then a
bow-out and the backup's skew), and restarts the server, saying whether the address comes back.
"""

from __future__ import annotations

import subprocess
import time
import typing

from pycarp.demo import measure
from pycarp.demo.maintenance import heir_of
from pycarp.demo.plan import GROUPS, TRACK_FALL, TRACK_INTERVAL, TRACK_RISE
from pycarp.demo.watch import DemoError
from pycarp.lab.naming import CLIENT
from pycarp.lab.services import get, kill_web, start_web

if typing.TYPE_CHECKING:
    from pycarp.demo.board import Board
    from pycarp.demo.ping import PingResult
    from pycarp.demo.story import Story

LABEL = "web server killed (track)"
KEY_SENTENCE = "took over after the web server died on"


def start_servers(story: Story) -> dict[str, subprocess.Popen[bytes]]:
    """A web server on every host, before the daemons: their tracks' first check must pass."""
    return {host: start_web(story.lab, host, story.workdir) for host in story.configs}


def service_outage(story: Story, vhid: int) -> tuple[float, PingResult]:
    """Kill the web server on the master of ``vhid``: its track fails ``fall`` times, pycarp
    bows out of every group, the best backup takes over. Then restart it. Returns the longest
    handover on the bridge and the client's pings, for the summary."""
    screen, watcher = story.screen, story.watcher
    masters = watcher.look().masters(vhid)
    if len(masters) != 1:
        raise DemoError(f"vhid {vhid} has masters {masters}, not one")
    node = masters[0]
    running = {h for h, d in watcher.daemons.items() if d.alive() and h not in watcher.not_running}
    heirs = {g.vhid: heir_of(g.advskew, node, running) for g in GROUPS}
    address = next(g.address for g in GROUPS if g.vhid == vhid)
    heir = heirs[vhid]
    advert_times = [g.advert_interval(heirs[g.vhid]) for g in GROUPS]
    pinger = story.ping(address, "service")
    screen.step(f"kill the web server on {node} (kill -9 by its PID): the host and pycarp stay up")
    killed_at = kill_web(story.servers[node])
    watcher.wait_board(
        "the backups to take over",
        lambda board: all(board.served_by(g.vhid, heirs[g.vhid]) for g in GROUPS),
        timeout=(TRACK_FALL + 1) * TRACK_INTERVAL + max(advert_times) + 2,
    )
    story.watch_pings()
    pings = pinger.stop()
    took = _master_at(story, heir, vhid, killed_at) - killed_at
    handovers = [
        measure.handover(story.adverts(), vhid=g.vhid, leaver=story.ip(node), after=killed_at)
        for g in GROUPS
    ]
    page = get(story.lab, CLIENT, address)
    gaps = ", ".join(
        f"vhid {g.vhid} {h.gap * 1000:.0f} ms, skew {g.advskew[heirs[g.vhid]]}/256 s"
        for g, h in zip(GROUPS, handovers, strict=True)
    )
    screen.freeze()
    worst = (TRACK_FALL + 1) * TRACK_INTERVAL
    screen.result(
        f"{heir} {KEY_SENTENCE} {node}: {took:.2f} s from the kill to {heir} MASTER of vhid "
        f"{vhid}, and the client's GET of {address} gets {page!r}."
    )
    screen.detail(
        f"Each host checks its own page every {TRACK_INTERVAL:g} s; the track goes down after "
        f"fall = {TRACK_FALL} failures in a row: fall {screen.marks.times} interval = "
        f"{TRACK_FALL * TRACK_INTERVAL:g} s, plus up to one interval for where the kill fell "
        f"between two checks (at most {worst:g} s). A fault track then makes {node} bow out "
        f"of every group it serves, and {heir} takes over after its own skew "
        f"after the goodbye ({gaps})."
    )
    screen.detail(
        f"Without a track, {node} would have kept {address}: it still advertises and answers "
        "pings, but no request. " + story.client_line(pings, address)
    )
    _restart(story, node, heirs)
    return max(h.gap for h in handovers), pings


def _restart(story: Story, node: str, heirs: dict[int, str]) -> None:
    """The server is back: the track rises after ``rise`` checks, and nothing moves (preempt
    off; here the node's advskew is also the worse one)."""
    screen, watcher = story.screen, story.watcher
    screen.step(f"restart the web server on {node}")
    seen = len(watcher.daemons[node].events())
    restarted_at = time.time()
    story.servers[node] = start_web(story.lab, node, story.workdir)
    up = watcher.daemons[node].wait_for_event(
        "track_changed", (TRACK_RISE + 2) * TRACK_INTERVAL + 2, after=seen, up=True
    )
    hold = max(g.advert_interval(heirs[g.vhid]) for g in GROUPS) + 0.3

    def nothing_moves(board: Board) -> str | None:
        moved = [g.vhid for g in GROUPS if not board.served_by(g.vhid, heirs[g.vhid])]
        return f"vhid {moved} moved although preempt is off" if moved else None

    watcher.watch(hold, f"watching whether {node} takes a group back", nothing_moves)
    screen.freeze()
    skews = ", ".join(f"vhid {g.vhid} {g.advskew[node]}" for g in GROUPS)
    screen.result(
        f"{node}'s track is up again {up['wall'] - restarted_at:.2f} s after the restart "
        f"(rise = {TRACK_RISE} good checks); the addresses stay where they are."
    )
    screen.detail(
        f"Preemption is off, so {node} waits for a master to fail or leave; its advskew "
        f"({skews}) is not the better one either, so even preempt = true would not move them."
    )


def _master_at(story: Story, host: str, vhid: int, after: float) -> float:
    """Wall time of ``host``'s takeover of ``vhid`` after ``after`` (its own event)."""
    found = [
        float(e["wall"])
        for e in story.watcher.daemons[host].events("state_changed")
        if e["vhid"] == vhid and e["new"] == "MASTER" and e["wall"] >= after
    ]
    if not found:
        raise DemoError(f"{host} has no MASTER event for vhid {vhid} after the kill")
    return found[0]
