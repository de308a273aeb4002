"""Logging set-up for the daemon: stderr by default, syslog with ``--facility`` (as ucarp).

Syslog is checked once, at start: if nothing listens on its socket the caller hears it
(:class:`SyslogUnavailable`) and decides (fall back to stderr, or refuse ``-B``, which would
have no log destination at all). If syslog goes away later, a record that cannot be written is
counted and dropped; stderr gets one line per outage, never a traceback per record.
"""

from __future__ import annotations

import logging
import logging.handlers
import socket
import sys

SYSLOG_SOCKET = "/dev/log"  # read at call time, so a test can point it elsewhere


class SyslogUnavailable(Exception):
    """Nothing accepts log records on the syslog socket; the message says where and why."""


def configure_logging(
    *, debug: bool, facility: str | None, syslog_socket: str | None = None
) -> None:
    """Log to stderr, or to syslog with ``facility`` (raises SyslogUnavailable if it is not
    there: then nothing is changed)."""
    root = logging.getLogger("pycarp")
    handler: logging.Handler
    if facility is None:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(
            logging.Formatter("%(asctime)s.%(msecs)03d %(levelname)-7s %(message)s", "%H:%M:%S")
        )
    else:
        address = SYSLOG_SOCKET if syslog_socket is None else syslog_socket
        _probe(address)
        code = logging.handlers.SysLogHandler.facility_names[facility]
        handler = QuietSyslogHandler(address=address, facility=code)
        handler.setFormatter(logging.Formatter("pycarp[%(process)d]: %(message)s"))
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    root.handlers.clear()
    root.addHandler(handler)
    root.propagate = False


def _probe(address: str) -> None:
    """Connect to the syslog socket as the handler will (datagram, else stream)."""
    error: OSError | None = None
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(socket.AF_UNIX, kind) as probe:
            try:
                probe.connect(address)
            except OSError as failure:
                error = error or failure
            else:
                return
    assert error is not None
    raise SyslogUnavailable(f"{address}: {error.strerror or error}")


class QuietSyslogHandler(logging.handlers.SysLogHandler):
    """A SysLogHandler that never prints a traceback per record.

    The standard handler reconnects on every record, and reports every failure with a
    traceback on stderr: a syslog restart would flood the terminal (and fill a redirected
    stderr). Here the first failure of an outage is one line, later ones are only counted
    (``dropped``), and the first record that gets through again says how many were lost.
    """

    def __init__(self, *, address: str, facility: int) -> None:
        super().__init__(address=address, facility=facility)
        self.dropped = 0
        self._failing = False
        self._outage = 0  # records dropped since the outage began

    def emit(self, record: logging.LogRecord) -> None:
        before = self.dropped
        super().emit(record)
        if self.dropped == before and self._failing:
            self._failing = False
            lost, self._outage = self._outage, 0
            # Through the handler itself: syslog is back, and this belongs in the log.
            note = logging.LogRecord(
                record.name,
                logging.WARNING,
                __file__,
                0,
                "syslog was unavailable: %d log record(s) lost",
                (lost,),
                None,
            )
            super().emit(note)

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: ARG002 - logging API
        self.dropped += 1
        self._outage += 1
        if self._failing:
            return
        self._failing = True
        error = sys.exc_info()[1]
        stream = sys.stderr
        if stream is not None:
            try:
                stream.write(f"pycarp: syslog write failed ({error}): dropping log records\n")
                stream.flush()
            except (OSError, ValueError):
                pass
