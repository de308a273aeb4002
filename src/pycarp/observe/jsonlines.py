"""``--events FILE|-``: every published fact as one compact JSON object per line.

Each line is written with one ``os.write`` call (repeated only for the rest of a partial
write), straight to the file descriptor, with no buffer in between: a line is on disk or in the
pipe as soon as the fact is published, so ``tail -f`` and ``jq`` see events as they happen, a
crash loses nothing already published, and concurrent appenders (O_APPEND) never interleave
within a line. Having no Python buffer also means a dead stdout pipe cannot make the
interpreter complain again at exit about data it could not flush.

A write that fails (disk full, the reader of ``-`` gone) is logged once and the writer
unsubscribes itself: losing the event log must never stop or crash the daemon.

Writes are synchronous, on the event loop. That is right for a local file; a pipe whose reader
stops reading would eventually block the loop once the pipe buffer (64 KiB on Linux) is full.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable

from pycarp.observe.stream import EventStream, Published

log = logging.getLogger("pycarp")

STDOUT = "-"
FILE_MODE = 0o640  # the group (e.g. adm) may read the event log; others may not
_OPEN_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NOCTTY


def encode(published: Published) -> bytes:
    """One compact JSON line. A value JSON cannot hold (a stray object in a control request's
    arguments) is written as its ``str()`` rather than losing the whole event."""
    text = json.dumps(published.as_json(), separators=(",", ":"), default=str)
    return text.encode("utf-8") + b"\n"


class JsonLinesWriter:
    """Appends every fact published on ``stream`` to ``target`` (a path, or ``-`` for
    standard output) from the moment it is created until :meth:`close` or a write error.

    Opening the file happens here, so a bad path raises :class:`OSError` at start-up, where
    the daemon can report it as a configuration error. A new file is created with mode 0640
    (less if the umask says so); an existing file keeps its mode and its content.
    """

    def __init__(self, target: str, stream: EventStream) -> None:
        self.target = target
        self._owns_fd = target != STDOUT
        self._fd: int | None = (
            os.open(target, _OPEN_FLAGS, FILE_MODE) if self._owns_fd else sys.stdout.fileno()
        )
        self._unsubscribe: Callable[[], None] | None = stream.subscribe(self._write)

    @property
    def active(self) -> bool:
        """False once closed or after a write error."""
        return self._unsubscribe is not None

    def close(self) -> None:
        """Stop writing; close the file (standard output is left open). Idempotent."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._fd is not None:
            fd, self._fd = self._fd, None
            if self._owns_fd:
                try:
                    os.close(fd)
                except OSError as error:
                    log.error("--events %s: %s", self._name, error.strerror or error)

    @property
    def _name(self) -> str:
        return "standard output" if self.target == STDOUT else self.target

    def _write(self, published: Published) -> None:
        if self._fd is None:
            return
        line = memoryview(encode(published))
        try:
            while line:
                written = os.write(self._fd, line)
                line = line[written:]
        except OSError as error:
            log.error(
                "--events %s: %s: no more events are written there",
                self._name,
                error.strerror or error,
            )
            self.close()
