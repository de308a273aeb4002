"""CPU time the hypervisor took from this VM ("steal" in /proc/stat), sampled during a run.

A guest's vCPU can be descheduled by the host for tens of milliseconds; the guest sees a
stall it cannot prevent and the kernel counts the time as *steal*. A benchmark that looks for
100 ms stalls of a daemon (bench/jitter.py: a false failover at a 0.05 s interval needs one)
must tell those apart from the daemon's own, so it samples every CPU's steal counter every
SAMPLE_INTERVAL in a thread and reports the worst window and the steal just before an event.
Resolution: one clock tick (USER_HZ, 10 ms on Debian's kernels).
"""

from __future__ import annotations

import bisect
import os
import threading
import time
import typing

SAMPLE_INTERVAL = 0.02  # seconds between two readings of /proc/stat
_STEAL_FIELD = 8  # cpuN user nice system idle iowait irq softirq steal ...
_TICK = 1.0 / os.sysconf("SC_CLK_TCK")


def read_steal(path: str = "/proc/stat") -> dict[int, float]:
    """Seconds stolen from each CPU since boot."""
    stolen: dict[int, float] = {}
    with open(path, encoding="ascii") as stat:
        for line in stat:
            fields = line.split()
            if fields and fields[0].startswith("cpu") and fields[0] != "cpu":
                stolen[int(fields[0][3:])] = int(fields[_STEAL_FIELD]) * _TICK
    return stolen


class StealSampler:
    """Samples every CPU's steal counter (wall time, seconds) until stopped; bounded by
    ``limit`` seconds so a forgotten sampler ends on its own."""

    def __init__(self, limit: float) -> None:
        self.times: list[float] = []
        self.samples: list[dict[int, float]] = []
        self._limit = limit
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="steal-sampler", daemon=True)

    def __enter__(self) -> StealSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        ends = time.monotonic() + self._limit
        while not self._stop.is_set() and time.monotonic() < ends:
            self.times.append(time.time())
            self.samples.append(read_steal())
            self._stop.wait(SAMPLE_INTERVAL)

    def total(self, start: float, end: float) -> dict[int, float]:
        """Seconds stolen from each CPU between two wall times (nearest samples inside)."""
        first, last = self._index(start), self._index(end) - 1
        if first >= last:
            return {}
        return {cpu: self.samples[last][cpu] - self.samples[first][cpu] for cpu in self.samples[0]}

    def worst_window(self, window: float) -> tuple[float, int, float]:
        """(seconds stolen, CPU, wall time at the window's end) of the window of ``window``
        seconds in which one CPU lost the most."""
        best: tuple[float, int, float] = (0.0, -1, 0.0)
        start = 0
        for end, at in enumerate(self.times):
            while at - self.times[start] > window:
                start += 1
            for cpu, value in self.samples[end].items():
                lost = value - self.samples[start][cpu]
                if lost > best[0]:
                    best = (lost, cpu, at)
        return best

    def _index(self, when: float) -> int:
        return bisect.bisect_left(self.times, when)


def describe(stolen: typing.Mapping[int, float]) -> str:
    """``CPU 0 30 ms, CPU 1 0 ms``."""
    return ", ".join(f"CPU {cpu} {lost * 1000:.0f} ms" for cpu, lost in sorted(stolen.items()))
