"""Log every garbage collection of a Python process (for ``bench/jitter.py``), else nothing.

A directory on ``PYTHONPATH`` holding a ``sitecustomize`` module is imported by every Python
process started with it. Only when ``PYCARP_BENCH_GC_LOG`` names a directory does this one
register a :data:`gc.callbacks` hook, which appends ``wall-time generation milliseconds``
for each collection to ``DIR/gc-PID.txt``: the benchmark can then say whether an advert was
late because of a collection, without changing a line of pycarp. The hook costs a few
microseconds per collection.
"""

from __future__ import annotations

import gc
import os
import pathlib
import time

_directory = os.environ.get("PYCARP_BENCH_GC_LOG")
if _directory:
    _log = (pathlib.Path(_directory) / f"gc-{os.getpid()}.txt").open("a", buffering=1)
    _started: list[float] = [0.0]

    def _on_collection(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            _started[0] = time.perf_counter()
            return
        took = (time.perf_counter() - _started[0]) * 1000
        _log.write(f"{time.time():.6f} {info['generation']} {took:.3f}\n")

    gc.callbacks.append(_on_collection)
