"""One run of a health check: a script, an interface's link state, or an integer in a file.

Each returns a :class:`CheckOutcome` and never raises for what the checked thing does (a
script that fails, hangs or vanished; an interface that went away; a file that is missing or
holds garbage): a check's failure is data for the track, not an error of the daemon.

Scripts run as hooks do (runtime/hooks.py): no shell, the daemon's environment without any
passphrase, **no capability at all** (setpriv), their own process group, killed with all their
children at the timeout. Their output (stdout and stderr together) is read as it comes and only
the last :data:`OUTPUT_LINES` lines are kept, each cut to :data:`LINE_LIMIT` characters, so a
check that prints megabytes costs a bounded amount of memory.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import errno
import os
import pathlib
import re
import stat
from collections.abc import Collection, Sequence

from pycarp.core.track import MAX_TRACK_WEIGHT, Result
from pycarp.platform.ports import LinkState, Platform
from pycarp.runtime.hooks import hook_environment, kill_process_group, start_unprivileged

OUTPUT_LINES = 5
LINE_LIMIT = 200
FILE_LIMIT = 64  # bytes read from a track file: an integer and a newline
UP_OPERSTATES = frozenset({"UP", "UNKNOWN"})  # UNKNOWN: the driver reports none (tun, dummy)
_INTEGER = re.compile(rb"\s*([+-]?[0-9]{1,10})\s*")


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class CheckOutcome:
    result: Result
    detail: str = ""  # one line, for the event and the status ("exited with status 2")
    exit_status: int | None = None
    output: tuple[str, ...] = ()
    value: int | None = None  # a file track's integer


def _printable(line: str) -> str:
    cleaned = "".join(c if c.isprintable() else "?" for c in line.rstrip())
    return cleaned[:LINE_LIMIT]


async def _tail(stream: asyncio.StreamReader) -> tuple[str, ...]:
    """The last lines of ``stream``, bounded however much it prints."""
    lines: collections.deque[str] = collections.deque(maxlen=OUTPUT_LINES)
    partial = b""
    while chunk := await stream.read(4096):
        *complete, partial = (partial + chunk).split(b"\n")
        for raw in complete:
            text = _printable(raw.decode(errors="replace"))
            if text:
                lines.append(text)
        partial = partial[-(LINE_LIMIT * 4) :]  # a line with no end is cut, not kept whole
    text = _printable(partial.decode(errors="replace"))
    if text:
        lines.append(text)
    return tuple(lines)


async def run_script_check(
    argv: Sequence[str], *, time_limit: float, secrets: Collection[bytes] = ()
) -> CheckOutcome:
    """Run the check once; exit status 0 is a success, anything else a failure."""
    try:
        process = await start_unprivileged(argv, hook_environment({}, secrets), ())
    except OSError as error:
        return CheckOutcome(
            result=Result.ERROR, detail=f"cannot run {argv[0]}: {error.strerror or error}"
        )
    assert process.stdout is not None
    reading = asyncio.ensure_future(_tail(process.stdout))
    try:
        async with asyncio.timeout(time_limit):
            output = await asyncio.shield(reading)
            status = await process.wait()
    except TimeoutError:
        await kill_process_group(process)
        output = await _settle(reading)
        return CheckOutcome(
            result=Result.TIMED_OUT,
            detail=f"still running after {time_limit:g}s: killed",
            output=output,
        )
    except asyncio.CancelledError:
        await kill_process_group(process)  # the daemon is stopping: no check outlives it
        await _settle(reading)
        raise
    if status == 0:
        return CheckOutcome(result=Result.OK, exit_status=0, output=output)
    detail = f"exited with status {status}" if status > 0 else f"killed by signal {-status}"
    return CheckOutcome(result=Result.FAILED, detail=detail, exit_status=status, output=output)


async def _settle(reading: asyncio.Future[tuple[str, ...]]) -> tuple[str, ...]:
    """The output read so far, once the killed process group has closed the pipe. A
    grandchild that left the group and kept the pipe open must not hold us: 1 s at most."""
    try:
        return await asyncio.wait_for(asyncio.shield(reading), 1.0)
    except TimeoutError:
        reading.cancel()
        return ()


def link_check(platform: Platform, interface: str) -> CheckOutcome:
    """Blocking (netlink): up while the interface has carrier and its operstate is up."""
    try:
        if platform.read_link is not None:
            state = platform.read_link(interface)
        else:
            state = LinkState(platform.addresses.carrier(interface), "UNKNOWN")
    except OSError as error:
        if error.errno == errno.ENODEV:
            return CheckOutcome(result=Result.FAILED, detail=f"no interface {interface}")
        return CheckOutcome(result=Result.ERROR, detail=f"cannot read {interface}: {error}")
    if not state.carrier:
        return CheckOutcome(
            result=Result.FAILED, detail=f"no carrier (operstate {state.operstate})"
        )
    if state.operstate not in UP_OPERSTATES:
        return CheckOutcome(result=Result.FAILED, detail=f"operstate {state.operstate}")
    return CheckOutcome(result=Result.OK)


def file_check(path: pathlib.Path) -> CheckOutcome:
    """Blocking: the file's integer is the demotion to apply (clamped to 0..240 by the core).

    A missing, unreadable or non-regular file, or one that does not hold one integer, is a
    failure: the writer is gone or wrote garbage, and the track's weight applies once it has
    failed ``fall`` times in a row. Opened without blocking (a FIFO would hang the check) and
    read to at most :data:`FILE_LIMIT` bytes (``/dev/zero`` would never end).
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
    try:
        fd = os.open(path, flags)
    except OSError as error:
        return CheckOutcome(result=Result.FAILED, detail=f"cannot open: {error.strerror}")
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return CheckOutcome(result=Result.FAILED, detail="not a regular file")
        data = os.read(fd, FILE_LIMIT + 1)
    except OSError as error:
        return CheckOutcome(result=Result.FAILED, detail=f"cannot read: {error.strerror}")
    finally:
        os.close(fd)
    match = _INTEGER.fullmatch(data) if len(data) <= FILE_LIMIT else None
    if match is None:
        shown = _printable(data[:40].decode(errors="replace"))
        return CheckOutcome(result=Result.FAILED, detail=f"not an integer: {shown!r}")
    value = int(match[1])
    clamped = max(0, min(MAX_TRACK_WEIGHT, value))
    detail = "" if clamped == value else f"{value} clamped to {clamped}"
    return CheckOutcome(result=Result.OK, value=clamped, detail=detail)
