"""The daemon's side of the control socket: status, maintenance, demotion, forced states.

Every answer is one line saying what changed, for the person who typed the command. The rules
that keep an operator from breaking the group are here, not in the CLI:

- maintenance is saved *before* it takes effect (a crash right after still comes back in
  maintenance) and ``off`` restores the configured advskew, whatever demotion it replaced;
- demotion counters are the host's, kept apart from carrier and send-error demotion, so
  removing an operator demotion never strands or cancels another source;
- forcing a state goes through the group's machine like any other input: a forced master that
  hears a better one yields, so no command can leave two masters.
"""

from __future__ import annotations

import asyncio
import typing
from collections.abc import Callable
from typing import Any

from pycarp.control.api import ControlError, DemoteMode
from pycarp.control.persist import PersistError
from pycarp.core import events as ev
from pycarp.core.host import GroupKey
from pycarp.core.table import State
from pycarp.runtime.status import build_status

if typing.TYPE_CHECKING:
    from pycarp.runtime.daemon import Daemon

SaveMaintenance = Callable[[bool], None]  # raises PersistError (or OSError) when it cannot


class DaemonController:
    """Implements :class:`pycarp.control.api.Controller` over a running :class:`Daemon`.

    ``uid`` (who asked) is recorded by the control server in the request's event; maintenance
    also names it in the state-change reason, as it changes every group.
    """

    def __init__(self, daemon: Daemon, save_maintenance: SaveMaintenance | None = None) -> None:
        self._daemon = daemon
        self._save = save_maintenance

    def status(self) -> dict[str, Any]:
        return build_status(self._daemon)

    def maintenance(self, on: bool, *, uid: int) -> str:
        host = self._daemon.host
        word = "on" if on else "off"
        if self._save is not None:
            try:
                self._save(on)
            except (OSError, PersistError) as error:
                raise ControlError("not_saved", f"maintenance not changed: {error}") from None
        was = host.maintenance
        masters = [k for k, g in host.groups.items() if g.machine.state is State.MASTER]
        host.set_maintenance(on, self._now(), reason=f"maintenance mode (asked by uid {uid})")
        self._daemon.publish_demotions()
        groups = len(host.groups)
        if on and was:
            return f"maintenance is already on ({groups} group(s) demoted)"
        if not on and not was:
            return "maintenance is already off"
        if on:
            handed = f"{len(masters)} master(s) handed over" if masters else "no master here"
            return f"maintenance on: {groups} group(s) demoted to the maximum; {handed}"
        return f"maintenance {word}: {groups} group(s) back to their configured advskew"

    def demote(self, mode: DemoteMode, amount: int, group: str | None, *, uid: int) -> str:  # noqa: ARG002
        host = self._daemon.host
        key = None if group is None else self._key(group)
        value = host.demote(mode.value, amount, self._now(), key)
        self._daemon.publish_demotions()
        scope = "host-wide operator demotion" if key is None else f"{group} operator demotion"
        keys = list(host.groups) if key is None else [key]
        wire = ", ".join(f"{k[1]}@{k[0]} {host.machine(k).advskew_on_wire}" for k in keys[:8]) + (
            f" (+{len(keys) - 8} more)" if len(keys) > 8 else ""
        )
        return f"{scope} now {value}; advskew on the wire: {wire or 'no groups'}"

    def force_state(self, group: str, state: str, *, uid: int) -> str:  # noqa: ARG002
        key = self._key(group)
        forced = {"master": ev.ForcedState.MASTER, "backup": ev.ForcedState.BACKUP}.get(state)
        if forced is None:
            raise ControlError("bad_request", f"state {state!r}: master or backup")
        host = self._daemon.host
        before = host.machine(key).state
        if before is State.INIT:
            raise ControlError(
                "conflict", f"{group} is INIT (no carrier, or stopped): it cannot be forced"
            )
        host.force(key, forced, self._now())
        after = host.machine(key).state
        if after is before:
            return f"{group} is {after.value} already"
        return f"{group}: {before.value} -> {after.value}"

    def _key(self, group: str) -> GroupKey:
        vhid_text, at, interface = group.partition("@")
        if not at or not vhid_text.isdigit() or not interface:
            raise ControlError("bad_request", f"group {group!r}: VHID@INTERFACE, e.g. 1@eth0")
        key = (interface, int(vhid_text))
        if key not in self._daemon.host.groups:
            known = ", ".join(f"{k[1]}@{k[0]}" for k in list(self._daemon.host.groups)[:10])
            raise ControlError("unknown_group", f"no group {group} here (groups: {known})")
        return key

    @staticmethod
    def _now() -> float:
        return asyncio.get_running_loop().time()
