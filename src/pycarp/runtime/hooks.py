"""Run operator scripts (ucarp up/down scripts, devd-style notify) safely.

No shell, a timeout (the whole process group is killed when it expires), output logged line by
line under the group's name, and failures counted, never raised: a broken script must not take
the daemon down, and a hanging one must not delay anything but the scripts queued behind it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import signal
from collections.abc import Mapping, Sequence

log = logging.getLogger("pycarp.hooks")


@dataclasses.dataclass(slots=True)
class HookStats:
    runs: int = 0
    failures: int = 0  # non-zero exit, or could not be started
    timeouts: int = 0


async def run_script(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    time_limit: float,
    label: str,
    stats: HookStats,
) -> int | None:
    """Run ``argv``; return its exit status, or None if it could not start or timed out."""
    stats.runs += 1
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, **env},
            start_new_session=True,  # its own process group, so a timeout kills its children
        )
    except OSError as error:
        stats.failures += 1
        log.error("%s: cannot run %s: %s", label, argv[0], error.strerror or error)
        return None
    try:
        async with asyncio.timeout(time_limit):
            await _log_output(process, label)
            status = await process.wait()
    except TimeoutError:
        stats.timeouts += 1
        await _kill_group(process)
        log.error("%s: %s still running after %gs: killed", label, argv[0], time_limit)
        return None
    except asyncio.CancelledError:
        # The daemon is stopping and gave up waiting: the hook must not outlive it.
        await _kill_group(process)
        log.error("%s: %s still running at exit: killed", label, argv[0])
        raise
    if status != 0:
        stats.failures += 1
        log.warning("%s: %s exited with status %d", label, argv[0], status)
    else:
        log.debug("%s: %s done", label, argv[0])
    return status


async def _kill_group(process: asyncio.subprocess.Process) -> None:
    """Kill the script and everything it started (its own session), then reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    await process.wait()


async def _log_output(process: asyncio.subprocess.Process, label: str) -> None:
    assert process.stdout is not None
    async for raw in process.stdout:
        line = raw.decode(errors="replace").rstrip()
        if line:
            log.info("%s: %s", label, line)
