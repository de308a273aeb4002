"""The daemon's operating services: ``--events``, saved maintenance, health tracks, metrics,
control socket.

Each is a consumer of (or a way in to) the daemon, not part of the protocol: the daemon runs
without any of them (a test's Daemon has none). They start before the first group, so the event
file and the metrics see every fact from the first ``group_started`` on, and a maintenance mode
saved before a restart is in force before any group could become master. A service that cannot
start (an events file that cannot be opened, a metrics port in use, another daemon on the
control socket) stops the daemon with one line, before it touched anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import pathlib
import typing

from pycarp.control.persist import PersistedState, StateStore
from pycarp.control.server import ControlInUse, ControlServer, ControlSetupError
from pycarp.observe.http import ExpositionServer
from pycarp.observe.jsonlines import JsonLinesWriter
from pycarp.observe.metrics import Metrics
from pycarp.runtime.operator import DaemonController
from pycarp.runtime.status import build_status

if typing.TYPE_CHECKING:
    from pycarp.runtime.daemon import Daemon

log = logging.getLogger("pycarp")


class ServiceError(OSError):
    """A service cannot start; the message is one line for the operator."""


class Services:
    def __init__(self, daemon: Daemon) -> None:
        self._daemon = daemon
        self._writer: JsonLinesWriter | None = None
        self._metrics: Metrics | None = None
        self._exporter: ExpositionServer | None = None
        self._control: ControlServer | None = None
        self._store: StateStore | None = None

    async def start(self, tasks: asyncio.TaskGroup) -> None:
        daemon = self._daemon
        config = daemon.config
        if config.events is not None:
            try:
                self._writer = JsonLinesWriter(config.events, daemon.stream)
            except OSError as error:
                raise ServiceError(f"--events {config.events}: {error.strerror or error}") from None
        if config.state_dir is not None:
            self._store = StateStore(config.state_dir, config.state_name)
            saved = await asyncio.to_thread(self._store.load)
            if saved.warning:
                log.error("%s", saved.warning)
            if saved.maintenance:
                now = asyncio.get_running_loop().time()
                daemon.host.set_maintenance(True, now, "maintenance mode (saved)")
                log.warning("maintenance mode is on (saved in %s)", self._store.path)
        daemon.tracks.start(tasks)  # before the groups: each group starts knowing its demotion
        if config.metrics is not None:
            self._metrics = Metrics(lambda: build_status(daemon), daemon.stream)
            host, port = config.metrics
            try:
                self._exporter = await self._metrics.serve(host, port)
            except OSError as error:
                raise ServiceError(f"--metrics {host}:{port}: {error.strerror or error}") from None
        if config.control is not None:
            self._control = await self._serve_control(config.control)
            tasks.create_task(self._control.serve())

    async def _serve_control(self, path: pathlib.Path) -> ControlServer:
        """Listen on ``path``; a ucarp-style daemon (one per vhid) whose default socket another
        daemon serves takes its own group's name instead (``/run/pycarp/1@eth0.sock``)."""
        fallback = self._daemon.config.control_fallback
        try:
            return await self._open_control(path)
        except ControlInUse as error:
            if fallback is None:
                raise ServiceError(str(error)) from None
            log.warning("%s; using %s (one daemon per vhid, as ucarp)", error, fallback)
        try:
            return await self._open_control(fallback)
        except ControlSetupError as error:
            raise ServiceError(str(error)) from None

    async def _open_control(self, path: pathlib.Path) -> ControlServer:
        daemon = self._daemon
        server = ControlServer(
            path,
            DaemonController(daemon, self._save_maintenance),
            group=daemon.config.control_group,
            on_request=daemon.stream.publish,
        )
        try:
            await server.start()
        except ControlInUse:
            raise
        except ControlSetupError as error:
            raise ServiceError(str(error)) from None
        except OSError as error:
            raise ServiceError(f"--control {path}: {error.strerror or error}") from None
        return server

    def _save_maintenance(self, on: bool) -> None:
        if self._store is not None:
            self._store.save(PersistedState(maintenance=on))

    async def close(self) -> None:
        """Idempotent: the control socket goes first (no request may arrive mid-teardown)."""
        self._daemon.tracks.stop()
        control, self._control = self._control, None
        if control is not None:
            with contextlib.suppress(Exception):
                await control.close()
        exporter, self._exporter = self._exporter, None
        if exporter is not None:
            with contextlib.suppress(Exception):
                await exporter.close()
        if self._metrics is not None:
            self._metrics.close()
            self._metrics = None
        if self._writer is not None:
            self._writer.close()
            self._writer = None
