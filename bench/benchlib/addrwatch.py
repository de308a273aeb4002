"""When did an address appear on a host? ``ip -ts -o monitor address`` in its namespace.

The monitor prints each netlink address event as it arrives, stamped with the wall clock to
the microsecond, one line per event. Polling ``ip addr`` instead would cost a process per look
and add its interval to every figure.
"""

from __future__ import annotations

import datetime
import ipaddress
import pathlib
import re
import subprocess
import time

from pycarp.lab import Lab, LabError
from pycarp.lab.namespaces import end_child

_EVENT = re.compile(r"^\[([0-9T:.-]+)\] (Deleted )?\d+: (\S+)\s+inet6? ([0-9a-fA-F:.]+)/\d+")
START_SETTLE = 0.2  # the monitor subscribes within a few ms; this leaves room on a busy machine


class AddressWatch:
    """Address additions on one node, from the moment the watch starts."""

    def __init__(self, lab: Lab, node: str, path: pathlib.Path) -> None:
        self.path = path
        with path.open("wb") as out:
            self._process = lab.popen(
                node,
                ["ip", "-ts", "-o", "monitor", "address"],
                stdout=out,
                stderr=subprocess.DEVNULL,
            )
        time.sleep(START_SETTLE)
        if self._process.poll() is not None:
            raise LabError(f"ip monitor on {node} exited ({self._process.returncode})")

    def additions(self) -> dict[str, float]:
        """First time each address was added (address text without prefix -> wall time)."""
        first: dict[str, float] = {}
        for line in self.path.read_text(errors="replace").splitlines():
            match = _EVENT.match(line)
            if match is None or match.group(2):
                continue
            address = str(ipaddress.ip_address(match.group(4)))
            if address not in first:
                # ip prints local time without a zone; a naive datetime is taken as local too.
                first[address] = datetime.datetime.fromisoformat(match.group(1)).timestamp()
        return first

    def stop(self) -> None:
        end_child(self._process)

    def __enter__(self) -> AddressWatch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
