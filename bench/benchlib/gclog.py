"""Start daemons with their garbage collections logged, and read the logs back.

See ``benchlib/gcwatch/sitecustomize.py``: the daemons get that directory prepended to
``PYTHONPATH`` and ``PYCARP_BENCH_GC_LOG`` set, through the environment they inherit.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pathlib
import typing

WATCH_DIR = pathlib.Path(__file__).parent / "gcwatch"


@dataclasses.dataclass(frozen=True)
class Collection:
    timestamp: float  # wall clock at its end
    generation: int
    milliseconds: float


@contextlib.contextmanager
def logged(directory: pathlib.Path) -> typing.Iterator[None]:
    """Python processes started in the body log their collections into ``directory``."""
    saved = {key: os.environ.get(key) for key in ("PYTHONPATH", "PYCARP_BENCH_GC_LOG")}
    paths = [str(WATCH_DIR), *filter(None, [saved["PYTHONPATH"]])]
    os.environ["PYTHONPATH"] = os.pathsep.join(paths)
    os.environ["PYCARP_BENCH_GC_LOG"] = str(directory)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def collections_of(directory: pathlib.Path, pid: int) -> list[Collection]:
    path = directory / f"gc-{pid}.txt"
    if not path.exists():
        return []
    found: list[Collection] = []
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 3:
            found.append(Collection(float(parts[0]), int(parts[1]), float(parts[2])))
    return found
