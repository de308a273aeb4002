"""Health tracks at run time: one task per track in the daemon's TaskGroup, off the timing path.

Each task runs its check every ``interval`` seconds (a slow check delays only its own next run,
never an advert: adverts run from the groups' timers, checks from their own tasks, and blocking
reads go to worker threads) and hands the result to the core
(:meth:`pycarp.core.host.Host.track_result`), which applies hysteresis, demotion and, for a
fault track, the hand-over.

Scripts run under one shared semaphore, :data:`TRACK_CONCURRENCY` at a time, so 100 tracks
never fork 100 processes at once; the timeout starts when the script does, not while it waits
for its turn. Interface and file checks are cheap reads in worker threads.

What is said: a ``track_changed`` event on every change of state or demotion, and a
``track_check_failed`` event (exit status, detail, last output lines) for a failure that
*differs* from the previous check's, compared by result, exit status and detail (not by the
output, which often holds a time or a counter). A dead service checked every 0.5 s is said
once, not twice a second forever; every run is counted (``checks`` in the status).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import typing
from typing import Any

from pycarp.config.tracks import TrackConfig, TrackKind
from pycarp.core.track import Result
from pycarp.observe import facts
from pycarp.runtime.checks import CheckOutcome, file_check, link_check, run_script_check

if typing.TYPE_CHECKING:
    from pycarp.runtime.daemon import Daemon

log = logging.getLogger("pycarp")

TRACK_CONCURRENCY = 8  # scripts running at once, over every track of the daemon


@dataclasses.dataclass(slots=True)
class TrackRun:
    """What the runtime knows about a track beyond the core's hysteresis."""

    config: TrackConfig
    checks: dict[str, int] = dataclasses.field(
        default_factory=lambda: {result.value: 0 for result in Result}
    )
    last: CheckOutcome | None = None
    last_at: float | None = None  # loop (monotonic) time of the last result
    said: tuple[Result, int | None, str] | None = None  # the last failure published


class TrackRunner:
    def __init__(self, daemon: Daemon, *, concurrency: int = TRACK_CONCURRENCY) -> None:
        self._daemon = daemon
        self._semaphore = asyncio.Semaphore(concurrency)
        self._tasks: list[asyncio.Task[None]] = []
        self.runs: dict[str, TrackRun] = {}
        self.scripts_running = 0
        self.most_scripts_running = 0  # the high-water mark of concurrent scripts

    def start(self, tasks: asyncio.TaskGroup) -> None:
        """Register every configured track with the host (up until its first result) and
        start its task; the first check runs at once."""
        for track in self._daemon.config.tracks:
            self._daemon.host.add_track(track.spec())
            self.runs[track.name] = TrackRun(track)
            self._tasks.append(tasks.create_task(self._run(track)))

    def stop(self) -> None:
        """Cancel every track's task; a script still running is killed with its group."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()

    async def _run(self, track: TrackConfig) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        while True:
            outcome = await self._check(track)
            self._record(track, outcome, loop.time())
            due += track.interval
            now = loop.time()
            due = max(due, now)  # the check (or its turn) took longer: no burst to catch up
            await asyncio.sleep(due - now)

    async def _check(self, track: TrackConfig) -> CheckOutcome:
        match track.kind:
            case TrackKind.SCRIPT:
                async with self._semaphore:
                    self.scripts_running += 1
                    self.most_scripts_running = max(self.most_scripts_running, self.scripts_running)
                    try:
                        return await run_script_check(
                            track.script,
                            time_limit=track.timeout,
                            secrets=self._daemon.hook_secrets,
                        )
                    finally:
                        self.scripts_running -= 1
            case TrackKind.INTERFACE:
                assert track.interface is not None
                return await asyncio.to_thread(link_check, self._daemon.platform, track.interface)
            case TrackKind.FILE:  # pragma: no branch - the match is exhaustive (mypy checks it)
                assert track.file is not None
                return await asyncio.to_thread(file_check, track.file)

    def _record(self, track: TrackConfig, outcome: CheckOutcome, now: float) -> None:
        run = self.runs[track.name]
        run.checks[outcome.result.value] += 1
        run.last, run.last_at = outcome, now
        daemon = self._daemon
        if outcome.result is Result.OK:
            run.said = None
        elif run.said != (key := (outcome.result, outcome.exit_status, outcome.detail)):
            run.said = key
            daemon.stream.publish(
                facts.TrackCheckFailed(
                    name=track.name,
                    result=outcome.result.value,
                    exit_status=outcome.exit_status,
                    detail=outcome.detail,
                    output=outcome.output,
                )
            )
        change = daemon.host.track_result(track.name, outcome.result, now, outcome.value)
        if change is None:
            return
        daemon.stream.publish(
            facts.TrackChanged(
                name=track.name,
                up=change.up,
                demotion=change.demotion,
                reason=change.reason,
                fault=track.weight is None,
                groups=tuple(f"{v}@{i}" for i, v in track.groups or ()),
            )
        )
        daemon.publish_demotions()

    # -- status ------------------------------------------------------------------------------

    def status(self) -> list[dict[str, Any]]:
        """The ``tracks`` of the status document (docs/control.md)."""
        daemon = self._daemon
        wall_of = daemon.stream.wall_of
        shown = []
        for name, run in self.runs.items():
            state = daemon.host.tracks.get(name)
            if state is None:
                continue
            config = run.config
            last = run.last
            groups = [
                driver.config.name
                for key, driver in daemon.drivers.items()
                if state.spec.covers(key)
            ]
            shown.append(
                {
                    "name": name,
                    "kind": config.kind.value,
                    "target": config.target,
                    "state": "up" if state.up else "down",
                    "mode": "fault" if config.weight is None else "weight",
                    "weight": config.weight,
                    "interval": config.interval,
                    "timeout": config.timeout,
                    "fall": config.fall,
                    "rise": config.rise,
                    "consecutive": state.consecutive,
                    "demotion": state.demotion,
                    "since_wall": None if state.since is None else round(wall_of(state.since), 3),
                    "last_result": None if last is None else last.result.value,
                    "last_detail": "" if last is None else last.detail,
                    "last_exit_status": None if last is None else last.exit_status,
                    "last_output": [] if last is None else list(last.output),
                    "last_wall": None if run.last_at is None else round(wall_of(run.last_at), 3),
                    "groups": groups,
                    "checks": dict(run.checks),
                }
            )
        return shown
