"""Wall-clock jumps (NTP steps, an operator's ``date -s``) must not matter: monotonic time only.

Inside a host namespace the wall clock is the whole machine's, so it is never changed here.
Two checks, each covering what the other cannot:

1. tests/test_wall_clock.py scans the syntax trees of ``pycarp.core``, ``pycarp.runtime`` and
   ``pycarp.platform`` (no root needed): none of them reads the wall clock.
2. Here, real daemons in the lab whose Python-level wall clock (``time.time``/``time_ns``, what
   Python code, ours and the standard library's, reads) jumps an hour forward and back every
   half second. The group must behave exactly as with a sane clock. This covers indirect
   reads (asyncio, threading, selectors) that a scan of our packages cannot see.

Why not libfaketime (``faketime``, in Debian): it would be a new system dependency for CI, it
fakes CLOCK_MONOTONIC too unless told not to, and what it adds over check 2 is C-level realtime
reads, which neither the interpreter's event loop nor our code makes (asyncio's clock is
``time.monotonic``, selectors take relative timeouts).
"""

from __future__ import annotations

import itertools
import pathlib
import time

from pycarp.lab import Lab
from pycarp.lab.capture import AdvertCapture

from .faults import STEADY, Group

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
