"""Logging set-up for the daemon: stderr by default, syslog with ``--facility`` (as ucarp)."""

from __future__ import annotations

import logging
import logging.handlers
import sys


def configure_logging(*, debug: bool, facility: str | None) -> None:
    root = logging.getLogger("pycarp")
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    root.handlers.clear()
    handler: logging.Handler
    if facility is None:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(
            logging.Formatter("%(asctime)s.%(msecs)03d %(levelname)-7s %(message)s", "%H:%M:%S")
        )
    else:
        code = logging.handlers.SysLogHandler.facility_names[facility]
        handler = logging.handlers.SysLogHandler(address="/dev/log", facility=code)
        handler.setFormatter(logging.Formatter("pycarp[%(process)d]: %(message)s"))
    root.addHandler(handler)
    root.propagate = False
