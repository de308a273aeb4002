"""FreeBSD's send-error demotion: three failed sends in a row demote, three good ones undo it.

A group that cannot reach the segment (a full socket buffer, a dead driver) should stop
winning elections before it stops advertising altogether; counting streaks rather than single
errors keeps one dropped packet from moving the addresses.
"""

from __future__ import annotations

from pycarp.core.settings import SEND_ERRORS_TO_DEMOTE


class SendErrorDemotion:
    """Streaks of failed and successful sends, and whether they demote the group now."""

    def __init__(self) -> None:
        self.demoted = False
        self._failures = 0
        self._successes = 0

    def count(self, ok: bool) -> None:
        if ok:
            self._failures = 0
            self._successes += 1
            if self._successes >= SEND_ERRORS_TO_DEMOTE:
                self.demoted = False
        else:
            self._successes = 0
            self._failures += 1
            if self._failures >= SEND_ERRORS_TO_DEMOTE:
                self.demoted = True
