"""CPU time and memory of daemon processes, read from /proc, and ending process trees.

CPU comes two ways: ``utime + stime`` of ``/proc/PID/stat`` (whole process, dead threads
included, but counted in clock ticks of 10 ms, far too coarse for an idle daemon's 30 seconds)
and the nanosecond run time in ``/proc/PID/task/*/schedstat`` (summed over the live threads).
Memory is VmRSS from ``/proc/PID/status`` and, because many ucarp processes share their
libraries, PSS from ``/proc/PID/smaps_rollup`` (each shared page split between its users).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import typing

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclasses.dataclass(frozen=True)
class CpuSample:
    ticks_seconds: float  # utime + stime, in seconds (tick resolution)
    run_seconds: float  # schedstat run time of the live threads, in seconds (ns resolution)


def cpu(pid: int) -> CpuSample:
    with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
        fields = handle.read().rpartition(")")[2].split()
    # fields[0] is the state (field 3 of stat(5)): utime and stime are fields 14 and 15.
    ticks = int(fields[11]) + int(fields[12])
    run_ns = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        with (
            contextlib.suppress(FileNotFoundError),
            open(f"/proc/{pid}/task/{task}/schedstat", encoding="ascii") as handle,
        ):
            run_ns += int(handle.read().split()[0])
    return CpuSample(ticks_seconds=ticks / CLOCK_TICKS, run_seconds=run_ns / 1e9)


def cpu_total(pids: typing.Iterable[int]) -> CpuSample:
    samples = [cpu(pid) for pid in pids]
    return CpuSample(
        ticks_seconds=sum(s.ticks_seconds for s in samples),
        run_seconds=sum(s.run_seconds for s in samples),
    )


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise ValueError(f"no VmRSS for {pid}")


def pss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("Pss:"):
                return int(line.split()[1])
    raise ValueError(f"no Pss for {pid}")


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (children before grandchildren)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as handle:
                parent = int(handle.read().rpartition(")")[2].split()[1])
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            continue
        parents.setdefault(parent, []).append(int(entry))
    found: list[int] = []
    frontier = [pid]
    while frontier:
        children = [child for each in frontier for child in parents.get(each, [])]
        found.extend(children)
        frontier = children
    return found


def kill_tree(pid: int) -> None:
    """Freeze ``pid`` and its descendants, then SIGKILL them all: a crash, nothing graceful.

    Stopping first means no parent can respawn a child it saw die, and no child can notice its
    parent's death and leave politely (keepalived's VRRP child would send priority 0).
    """
    family = [pid, *descendants(pid)]
    for each in family:
        with contextlib.suppress(ProcessLookupError):
            os.kill(each, signal.SIGSTOP)
    for each in [*family, *descendants(pid)]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(each, signal.SIGKILL)
