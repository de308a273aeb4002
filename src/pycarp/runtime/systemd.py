"""Tell systemd how the daemon is doing (``sd_notify``): ``Type=notify`` and ``WatchdogSec=``.

The protocol is one datagram of ``KEY=VALUE`` lines sent to the ``AF_UNIX`` socket named in
``$NOTIFY_SOCKET`` (a leading ``@`` names a socket in the abstract namespace). That is a few
lines of standard library, so it is written here rather than imported: python-systemd would bring
a C extension and libsystemd into a daemon that otherwise needs only pyroute2, and the small
pure-Python packages would be a dependency for the same few lines.

Why the watchdog pings come from the event loop and not from a thread: a thread would keep
pinging while the loop is wedged (a blocking call, an endless callback), and then no timer fires,
no advert goes out, and systemd would never find out. Pinged from the loop, the pings stop when
the adverts stop, and systemd restarts the daemon (``Restart=on-failure``).

Without ``$NOTIFY_SOCKET`` (not started by systemd, or ``Type=simple``) every call does nothing.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable, Iterable, Mapping

log = logging.getLogger("pycarp")

STATUS_PERIOD = 1.0  # seconds between two looks at the summary (a STATUS is sent on change)
STATE_ORDER = ("MASTER", "BACKUP", "INIT")  # how a summary lists the states


class Notifier:
    """One daemon's messages to systemd. Sending never raises: systemd's opinion is advice."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self._address = _socket_address(env.get("NOTIFY_SOCKET", ""))
        self.watchdog_interval = _watchdog_interval(env) if self._address else None
        self._socket: socket.socket | None = None
        self._failed = False
        self._stopping = False

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def send(self, *fields: str) -> None:
        """One datagram with ``fields`` (``KEY=VALUE`` each); nothing when not under systemd."""
        if self._address is None:
            return
        message = "\n".join(fields).encode()
        try:
            if self._socket is None:
                self._socket = socket.socket(
                    socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC
                )
                self._socket.setblocking(False)  # a full queue loses a ping, never blocks the loop
            self._socket.sendto(message, self._address)
        except OSError as error:
            if not self._failed:  # said once: systemd gone away is not news every 5 s
                self._failed = True
                log.warning("cannot notify systemd at %s: %s", os.fsdecode(self._address), error)

    def ready(self, status: str | None = None) -> None:
        self.send("READY=1", *_status(status))

    def reloading(self) -> None:
        """Reloading (``READY=1`` again when done); the timestamp is what systemd 253+ expects."""
        self.send(
            "RELOADING=1", f"MONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}"
        )

    def stopping(self) -> None:
        """Shutting down (once: a repeated call sends nothing)."""
        if not self._stopping:
            self._stopping = True
            self.send("STOPPING=1", "STATUS=stopping: bowing out and releasing the addresses")

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    async def run(self, summary: Callable[[], str], *, ready: asyncio.Event | None = None) -> None:
        """Ping the watchdog every half ``WatchdogSec=``, keep STATUS up to date with ``summary()``
        (sent when it changes), and send ``READY=1`` once ``ready`` is set (if given).

        Runs until cancelled; returns at once when not under systemd.
        """
        if self._address is None:
            return
        period = STATUS_PERIOD
        if self.watchdog_interval is not None:
            period = min(period, self.watchdog_interval / 2)
        announced = ready is None
        shown: str | None = None
        while True:
            fields: list[str] = []
            if not announced and ready is not None and ready.is_set():
                announced = True
                fields.append("READY=1")
            if self.watchdog_interval is not None:
                fields.append("WATCHDOG=1")
            text = _one_line(summary())
            if text != shown and not self._stopping:
                shown = text
                fields.append(f"STATUS={text}")
            if fields:
                self.send(*fields)
            if ready is None or announced:
                await asyncio.sleep(period)
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(ready.wait(), period)


def summarise(states: Iterable[str]) -> str:
    """``3 groups: 2 MASTER, 1 BACKUP``: how many groups are in which state."""
    counts = collections.Counter(states)
    total = sum(counts.values())
    noun = "group" if total == 1 else "groups"
    ordered = [s for s in STATE_ORDER if counts[s]] + sorted(set(counts) - set(STATE_ORDER))
    parts = ", ".join(f"{counts[s]} {s}" for s in ordered)
    return f"{total} {noun}: {parts}" if parts else f"{total} {noun}"


def _socket_address(value: str) -> bytes | None:
    """``$NOTIFY_SOCKET`` as a ``sendto`` address: a path, or ``@name`` for an abstract name."""
    if value.startswith("@") and len(value) > 1:
        return b"\0" + os.fsencode(value[1:])
    if value.startswith("/"):
        return os.fsencode(value)
    if value:  # vsock:... (systemd 254+, for VMs) and anything else: not ours to guess
        log.warning("NOTIFY_SOCKET=%r is not a path or @name: not notifying systemd", value)
    return None


def _watchdog_interval(env: Mapping[str, str]) -> float | None:
    """``WatchdogSec=`` in seconds, if it applies to this process (``WATCHDOG_PID``)."""
    pid = env.get("WATCHDOG_PID")
    if pid is not None and pid != str(os.getpid()):
        return None
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    return usec / 1_000_000 if usec > 0 else None


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _status(text: str | None) -> list[str]:
    return [] if text is None else [f"STATUS={_one_line(text)}"]
