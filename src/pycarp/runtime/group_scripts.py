"""One group's operator scripts: ucarp's up/down scripts and devd's ``vhid@if STATE`` notify.

Each run goes on the group's scripts queue (runtime/serial.py), so a slow script delays only
the scripts behind it, never an address change or an advert; each is told as a
``hook_started`` / ``hook_finished`` event. The script sees the group's state in its
environment (``PYCARP_*``), never a passphrase (runtime/hooks.py).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Collection

from pycarp.config.model import GroupConfig
from pycarp.core.actions import Hook, StateChanged
from pycarp.core.table import State
from pycarp.observe import facts
from pycarp.observe.stream import EventStream
from pycarp.runtime.hooks import HookStats, hook_capabilities, run_script
from pycarp.runtime.serial import SerialQueue


class GroupScripts:
    """Queues and runs the scripts of one group; ``state`` reads the group's current state."""

    def __init__(
        self,
        config: GroupConfig,
        *,
        queue: SerialQueue,
        stream: EventStream,
        names: facts.GroupNames,
        stats: HookStats,
        secrets: Collection[bytes],
        state: Callable[[], State],
    ) -> None:
        self._config = config
        self._queue = queue
        self._stream = stream
        self._names = names
        self._stats = stats
        self._secrets = secrets
        self._state = state

    def notify(self, change: StateChanged) -> None:
        """The ``notify`` program, if configured: ``PROGRAM VHID@IF STATE`` (devd's form)."""
        if self._config.notify:
            argv = [*self._config.notify, self._config.name, change.new.value]
            self._submit(argv, self._env(change), "notify")

    def run_hook(self, hook: Hook, change: StateChanged | None) -> None:
        """Queue the up or down script once per address: ``SCRIPT <if> <address> [xparam]``."""
        config = self._config
        script = config.upscript if hook is Hook.UP else config.downscript
        if script is None:
            return
        extra = [] if config.xparam is None else [config.xparam]
        env = self._env(change)
        for prefix in config.prefixes:
            self._submit([script, config.interface, str(prefix.ip), *extra], env, hook.value)

    def _submit(self, argv: list[str], env: dict[str, str], kind: str) -> None:
        self._queue.submit(functools.partial(self._run, argv, env, kind))

    def _env(self, change: StateChanged | None) -> dict[str, str]:
        config = self._config
        env = {
            "PYCARP_VHID": str(config.settings.vhid),
            "PYCARP_INTERFACE": config.interface,
            "PYCARP_ADDRESSES": " ".join(str(p.ip) for p in config.prefixes),
            "PYCARP_STATE": self._state().value,
        }
        if change is not None:
            env |= {
                "PYCARP_OLD_STATE": change.old.value,
                "PYCARP_NEW_STATE": change.new.value,
                "PYCARP_REASON": change.reason,
            }
        return env

    async def _run(self, argv: list[str], env: dict[str, str], kind: str) -> None:
        timeouts, started = self._stats.timeouts, time.monotonic()
        self._stream.publish(facts.HookStarted(**self._names, hook=kind, argv=tuple(argv)))
        status = await run_script(
            argv,
            env=env,
            time_limit=self._config.script_timeout,
            label=f"{self._config.name} {kind}",
            stats=self._stats,
            secrets=self._secrets,
            capabilities=hook_capabilities(self._config.native_addresses),
        )
        outcome = "ok" if status == 0 else "failed"
        if self._stats.timeouts > timeouts:
            outcome = "timed_out"
        self._stream.publish(
            facts.HookFinished(
                **self._names,
                hook=kind,
                argv=tuple(argv),
                outcome=outcome,
                exit_status=status,
                duration_ms=round((time.monotonic() - started) * 1000, 3),
            )
        )
