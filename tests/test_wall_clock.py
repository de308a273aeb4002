"""Protocol code reads monotonic time only: a scan of the syntax trees of ``pycarp.core``,
``pycarp.runtime`` and ``pycarp.platform`` finds no wall-clock read (``time.time``,
``datetime.now`` and relatives). This pins our own code, including paths no test runs; log time
stamps come from the logging module, outside these packages, and are fine. Real daemons with a
jumping wall clock run in tests/netns/test_faults_clock.py.
"""

from __future__ import annotations

import ast
import pathlib

import pycarp

PACKAGES = ("core", "runtime", "platform")
WALL_CLOCK_IN_TIME = {"time", "time_ns", "localtime", "gmtime", "ctime", "asctime", "strftime"}
WALL_CLOCK_IN_DATETIME = {"now", "utcnow", "today"}
REALTIME_CONSTANT = "CLOCK_REALTIME"
# The wall-clock reads allowed, all beside the kernel's receive stamps, which are wall-clock
# (SO_TIMESTAMPNS; there is no monotonic choice): a captured frame's time when it has no stamp
# (the same clock, as a pcap file's), and the stamp's age when an advert is read, a difference
# of two wall-clock reads taken close together and clamped (platform/stamps.py says why). No
# timer of the daemon reads the wall clock.
CAPTURE_TIMESTAMPS = {
    "platform/stamps.py": ["line 57: time.time", "line 64: time.time", "line 78: time.time"]
}


def wall_clock_reads(source: str) -> list[str]:
    """``line N: what`` for every wall-clock read in ``source`` (aliases followed)."""
    tree = ast.parse(source)
    time_modules: set[str] = set()
    datetime_names: set[str] = set()  # the datetime module, or its datetime/date classes
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "time":
                    time_modules.add(alias.asname or "time")
                elif alias.name == "datetime":
                    datetime_names.add(alias.asname or "datetime")
        elif isinstance(node, ast.ImportFrom) and node.module in ("time", "datetime"):
            for alias in node.names:
                if node.module == "datetime" and alias.name in ("datetime", "date"):
                    datetime_names.add(alias.asname or alias.name)
                elif alias.name in WALL_CLOCK_IN_TIME | {REALTIME_CONSTANT}:
                    found.append(f"line {node.lineno}: from time import {alias.name}")
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        root = node.value
        while isinstance(root, ast.Attribute):
            root = root.value
        if not isinstance(root, ast.Name):
            continue
        in_time = root.id in time_modules and node.attr in WALL_CLOCK_IN_TIME
        in_datetime = root.id in datetime_names and node.attr in WALL_CLOCK_IN_DATETIME
        if in_time or in_datetime or node.attr == REALTIME_CONSTANT:
            found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return found


def test_the_scan_finds_wall_clock_reads_and_only_those() -> None:
    """The scanner itself: every spelling is caught, monotonic time is not."""
    caught = [
        "import time\nx = time.time()",
        "import time as t\nx = t.time_ns()",
        "from time import time\nx = time()",
        "import datetime\nx = datetime.datetime.now()",
        "from datetime import datetime as dt\nx = dt.utcnow()",
        "from datetime import date\nx = date.today()",
        "import time\nx = time.clock_gettime(time.CLOCK_REALTIME)",
        "import time\nx = time.strftime('%H')",
    ]
    for source in caught:
        assert len(wall_clock_reads(source)) == 1, source
    fine = [
        "import time\nx = time.monotonic()",
        "import asyncio\nx = asyncio.get_running_loop().time()",
        "import time\nx = time.perf_counter()",
        "def time() -> float: ...\nx = self.time()",
    ]
    for source in fine:
        assert wall_clock_reads(source) == [], source


def test_core_runtime_and_platform_never_read_the_wall_clock() -> None:
    root = pathlib.Path(pycarp.__file__).parent
    files = sorted(path for package in PACKAGES for path in (root / package).rglob("*.py"))
    assert len(files) >= len(PACKAGES)
    reads = {
        str(path.relative_to(root)): found
        for path in files
        if (found := wall_clock_reads(path.read_text(encoding="utf-8")))
    }
    assert reads == CAPTURE_TIMESTAMPS, f"protocol code must use monotonic time only: {reads}"
