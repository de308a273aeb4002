"""Run the flooder (:mod:`pycarp.lab.flood`) on a lab node and read back what it sent.

The benchmark and the hostile-segment tests both start floods and replays the same way: as a
child process in the attacker's namespace, owned by the lab (ended by PID at teardown, also
on failure), reporting on stdout as one JSON object. A flood that is stopped early (SIGTERM)
still reports.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import typing

from pycarp.lab.namespaces import end_child
from pycarp.lab.naming import HOST_INTERFACE, LabError

if typing.TYPE_CHECKING:
    from pycarp.lab.lab import Lab

DEFAULT_SOURCES = "198.51.100.0/24"
START_SLACK = 15.0  # seconds for the interpreter to start and build its pool, on a busy machine


@dataclasses.dataclass(frozen=True, slots=True)
class SendReport:
    """What the flooder says it sent (its JSON report)."""

    mode: str
    sent: int
    errors: int
    behind: int
    seconds: float
    started_at: float  # wall clock of the first send (comparable with capture time stamps)
    rate: float
    target_rate: float
    cpu_seconds: float
    sent_at: tuple[float, ...] = ()

    @classmethod
    def parse(cls, text: str) -> SendReport:
        data = json.loads(text.strip().splitlines()[-1])
        return cls(
            mode=str(data["mode"]),
            sent=int(data["sent"]),
            errors=int(data["errors"]),
            behind=int(data["behind"]),
            seconds=float(data["seconds"]),
            started_at=float(data["started_at"]),
            rate=float(data["rate"]),
            target_rate=float(data["target_rate"]),
            cpu_seconds=float(data["cpu_seconds"]),
            sent_at=tuple(float(t) for t in data.get("sent_at", [])),
        )


class Sender:
    """A running flooder; :meth:`wait` or :meth:`stop` returns its report."""

    def __init__(self, lab: Lab, node: str, args: typing.Sequence[str], expected: float) -> None:
        self.node = node
        self.expected = expected  # seconds it should run
        self.process = lab.popen(
            node,
            [sys.executable, "-m", "pycarp.lab.flood", *args],
            text=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

    def wait(self, timeout: float | None = None) -> SendReport:
        """Block until it is done (``expected`` + start-up slack by default)."""
        limit = self.expected + START_SLACK if timeout is None else timeout
        try:
            out, err = self.process.communicate(timeout=limit)
        except subprocess.TimeoutExpired:
            end_child(self.process)
            raise LabError(f"flooder on {self.node} still running after {limit:g} s") from None
        return self._report(out, err)

    def stop(self) -> SendReport:
        """SIGTERM: it stops sending within a tick and reports what it sent so far."""
        self.process.terminate()
        return self.wait(timeout=10.0)

    def _report(self, out: str, err: str) -> SendReport:
        if self.process.returncode != 0 or not out.strip():
            raise LabError(
                f"flooder on {self.node} failed ({self.process.returncode}): {err.strip()[-1500:]}"
            )
        return SendReport.parse(out)


def start_flood(
    lab: Lab,
    node: str,
    *,
    vhid: int,
    rate: float,
    duration: float,
    sources: str = DEFAULT_SOURCES,
    seed: int | None = None,
    advskew: int = 0,
    nice: int = 0,
    method: str = "frames",
) -> Sender:
    """Forged adverts for ``vhid`` (wrong digest, advskew 0) at ``rate``/s for ``duration`` s."""
    args = ["--iface", HOST_INTERFACE, "--vhid", str(vhid), "--advskew", str(advskew)]
    args += ["--rate", f"{rate:g}", "--duration", f"{duration:g}", "--src-net", sources]
    if seed is not None:
        args += ["--seed", str(seed)]
    if nice:
        args += ["--nice", str(nice)]
    args += ["--method", method]
    return Sender(lab, node, args, duration)


def start_replay(
    lab: Lab,
    node: str,
    payloads: typing.Sequence[bytes],
    *,
    source: str,
    every: float,
    count: int,
) -> Sender:
    """Resend ``payloads`` (in turn) from ``source``, one every ``every`` s, ``count`` in all."""
    args = ["--iface", HOST_INTERFACE, "--source", source]
    args += ["--every", f"{every:g}", "--count", str(count)]
    for payload in payloads:
        args += ["--replay", payload.hex()]
    return Sender(lab, node, args, every * max(count - 1, 0))


def replay_once(lab: Lab, node: str, payload: bytes, *, source: str) -> SendReport:
    """Send ``payload`` once from ``source`` and wait for the report."""
    return start_replay(lab, node, [payload], source=source, every=1.0, count=1).wait()
