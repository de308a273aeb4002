"""What the control socket may ask of a daemon, as one small interface.

The socket server (transport, permissions, JSON framing) only knows this Protocol; the daemon
implements it. So the server is tested against a fake in milliseconds, and the daemon's side is
tested without a socket.
"""

from __future__ import annotations

import enum
from typing import Any, Protocol

PROTOCOL_VERSION = 1


class DemoteMode(enum.Enum):
    ADD = "+"  # +N: add N (FreeBSD's sysctl, OpenBSD's carpdemote)
    SUBTRACT = "-"  # -N: subtract N
    SET = "="  # =N: set the counter to N


class ControlError(Exception):
    """A request the daemon refuses: the message is the one line the operator sees.

    ``code`` is stable, for scripts: ``unknown_group``, ``bad_request``, ``not_permitted``,
    ``conflict``.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Controller(Protocol):
    """The daemon, as the control socket sees it. Every method returns the one-line answer
    (what changed) or raises :class:`ControlError`; ``uid`` is who asked (from SO_PEERCRED),
    recorded in the control event."""

    def status(self) -> dict[str, Any]:
        """The status document (docs/control.md, "status")."""
        ...

    def maintenance(self, on: bool, *, uid: int) -> str: ...

    def demote(self, mode: DemoteMode, amount: int, group: str | None, *, uid: int) -> str:
        """Change the operator demotion: host-wide (``group`` None) or of one ``vhid@if``."""
        ...

    def force_state(self, group: str, state: str, *, uid: int) -> str:
        """``state`` is ``master`` or ``backup`` (FreeBSD ``ifconfig ... vhid N state``)."""
        ...
