"""Wall-clock jumps (NTP steps, an operator's ``date -s``) must not matter: monotonic time only.

Inside a host namespace the wall clock is the whole machine's, so it is never changed here.
Two checks instead, each covering what the other cannot:

1. A scan of the syntax trees of ``pycarp.core``, ``pycarp.runtime`` and ``pycarp.platform``:
   none of them reads the wall clock (``time.time``, ``datetime.now`` and relatives). This
   pins our own code, including paths no test runs. Log time stamps come from the logging
   module, outside these packages, and are fine.
2. Real daemons in the lab whose Python-level wall clock (``time.time``/``time_ns``, what
   Python code, ours and the standard library's, reads) jumps an hour forward and back every
   half second. The group must behave exactly as with a sane clock. This covers indirect
   reads (asyncio, threading, selectors) that a scan of our packages cannot see.

Why not libfaketime (``faketime``, in Debian): it would be a new system dependency for CI, it
fakes CLOCK_MONOTONIC too unless told not to, and what it adds over check 2 is C-level realtime
reads, which neither the interpreter's event loop nor our code makes (asyncio's clock is
``time.monotonic``, selectors take relative timeouts).
"""

from __future__ import annotations

import ast
import itertools
import pathlib
import time

import pycarp
from pycarp.lab import Lab
from pycarp.lab.capture import AdvertCapture

from .faults import STEADY, Group

PACKAGES = ("core", "runtime", "platform")
WALL_CLOCK_IN_TIME = {"time", "time_ns", "localtime", "gmtime", "ctime", "asctime", "strftime"}
WALL_CLOCK_IN_DATETIME = {"now", "utcnow", "today"}
REALTIME_CONSTANT = "CLOCK_REALTIME"


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
    assert reads == {}, f"protocol code must use monotonic time only: {reads}"


# Run as ``python -c JUMPING_CLOCK ARGS``: pycarp with time.time()/time_ns() an hour ahead,
# then an hour behind, alternating every half second of real (monotonic) time.
JUMPING_CLOCK = """
import sys, time
real_time, real_ns, began = time.time, time.time_ns, time.monotonic()
def offset():
    return 3600.0 if int((time.monotonic() - began) / 0.5) % 2 else -3600.0
time.time = lambda: real_time() + offset()
time.time_ns = lambda: real_ns() + int(offset() * 1e9)
from pycarp.cli.main import main
sys.exit(main(sys.argv[1:]))
"""
JUMP_WINDOW = STEADY + 2.0  # seconds watched with the clock jumping: more than a master-down


def test_daemons_ignore_a_jumping_wall_clock(root: None, tmp_path: pathlib.Path) -> None:
    """Election, adverts once a second, a quiet backup: as if the clock were sane."""
    with Lab.create(hosts=2) as lab:
        group = Group(lab, tmp_path, python_code=JUMPING_CLOCK)
        group.elect("h1", ["h2"])
        with AdvertCapture(lab, tmp_path / "jumping.pcap") as capture:
            began = time.monotonic()
            group.assert_steady("h1", JUMP_WINDOW)
            watched = time.monotonic() - began
            adverts = [a for a in capture.adverts() if a.source == str(lab.ipv4("h1").ip)]

        times = [a.timestamp for a in adverts]
        gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
        # One advert per advbase (1 s at advskew 0): no storm, no silence.
        assert abs(len(adverts) - watched) <= 2, f"{len(adverts)} adverts in {watched:.1f} s"
        assert max(gaps) < 1.5, gaps
