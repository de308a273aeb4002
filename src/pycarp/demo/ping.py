"""The client's view: ping a virtual address every 10 ms and count what did not come back.

``ping -D`` stamps every reply with the wall clock, so the outage is measured as the longest
silence between two replies, not guessed from the number of lost packets (iputils ping sends
fewer requests while the address cannot be resolved, so lost x interval would understate it).
The run is bounded in count and time (``-c``, ``-w``) and normally ended early with SIGINT,
on which ping prints its summary. Output goes to a file: 100 lines a second would fill a pipe.

The interval is ``-i 0.009``, not 0.01: iputils ping (20221126) waits for intervals of 10 ms
and more with a coarse poll() and really sends every 16 ms, while just under 10 ms it keeps
time itself and sends about every 10 ms. The spacing actually achieved is measured and shown.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import pathlib
import re
import signal
import statistics
import subprocess
import typing

from pycarp.lab.naming import CLIENT, LabError
from pycarp.lab.programs import check_status

if typing.TYPE_CHECKING:
    from pycarp.lab.lab import Lab

INTERVAL = 0.009  # about every 10 ms in practice, see above
MAX_COUNT = 3000
MAX_SECONDS = 30

_REPLY = re.compile(r"^\[(\d+\.\d+)\] \d+ bytes from .*icmp_seq=(\d+) (.*)$", re.MULTILINE)
_SUMMARY = re.compile(r"(\d+) packets transmitted, (\d+) received")


@dataclasses.dataclass(frozen=True)
class PingResult:
    transmitted: int
    received: int
    replies: tuple[tuple[float, int], ...]  # (wall-clock time, icmp_seq), duplicates left out

    @property
    def lost(self) -> int:
        return self.transmitted - self.received

    @property
    def spacing(self) -> float:
        """Typical seconds between two requests (the median spacing of consecutive replies)."""
        steps = [
            (b_when - a_when) / (b_seq - a_seq)
            for (a_when, a_seq), (b_when, b_seq) in itertools.pairwise(self.replies)
            if b_seq > a_seq
        ]
        return statistics.median(steps) if steps else 0.0

    @property
    def longest_silence(self) -> float:
        """Seconds between the two replies furthest apart (about one interval if none lost)."""
        times = [when for when, _seq in self.replies]
        return max((b - a for a, b in itertools.pairwise(times)), default=0.0)


def parse(output: str) -> PingResult:
    """Read ``ping -D`` output; LabError if it has no summary (ping did not run)."""
    summary = _SUMMARY.search(output)
    if summary is None:
        raise LabError(f"ping printed no summary:\n{output[-500:]}")
    replies = tuple(
        (float(m.group(1)), int(m.group(2)))
        for m in _REPLY.finditer(output)
        if "(DUP!)" not in m.group(3)
    )
    return PingResult(int(summary.group(1)), int(summary.group(2)), replies)


class Pinger:
    """``ping -i 0.01`` from a lab node, running until :meth:`stop`."""

    def __init__(self, lab: Lab, node: str, target: str, output: pathlib.Path) -> None:
        self._output = output
        argv = ["ping", "-D", "-n", "-i", f"{INTERVAL:g}", "-W", "1"]
        argv += ["-c", str(MAX_COUNT), "-w", str(MAX_SECONDS), target]
        with output.open("w") as sink:
            self._process = lab.popen(
                node, argv, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT
            )

    def stop(self) -> PingResult:
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGINT)
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        return parse(self._output.read_text(errors="replace"))


def client_line(lab: Lab, pings: PingResult, address: str, hosts: typing.Sequence[str]) -> str:
    """What the client went through, in one sentence: the outage, the lost pings, and which
    of ``hosts`` its ARP entry for ``address`` now points to (set by a gratuitous ARP)."""
    line = (
        f"The client got no reply for {pings.longest_silence * 1000:.0f} ms "
        f"({pings.lost} of {pings.transmitted} pings lost; it sent one every "
        f"{pings.spacing * 1000:.0f} ms)"
    )
    holder = _client_neighbour(lab, address, hosts)
    if holder:
        line += (
            f"; its ARP entry for {address} now points to {holder}, set by {holder}'s "
            "gratuitous ARP"
        )
    return line + "."


def _client_neighbour(lab: Lab, address: str, hosts: typing.Sequence[str]) -> str | None:
    """Which host the client's ARP cache sends ``address`` to."""
    done = check_status(lab.exec(CLIENT, ["ip", "-j", "neigh", "show", address]))
    entries = json.loads(done.stdout or "[]")
    macs = {lab.mac(host): host for host in hosts}
    found = [macs.get(str(entry.get("lladdr", ""))) for entry in entries]
    return next((host for host in found if host), None)
