"""Start CARP daemons (pycarp, ucarp) on lab hosts and watch them, for tests, demo and benchmarks.

Each daemon runs in its host's namespace as a child the lab owns (ended by PID at teardown),
writes its log to a file in a work directory, and can be killed (-9), stopped (bow-out),
paused and resumed by PID. ucarp gets the classic up/down scripts that add and remove its
address with ``ip addr``, exactly as its users write them.

What pycarp did is read from its ``--events`` file and its status document, never from its
log: the log is worded for people and may be reworded at will, the events are a versioned
schema (docs/metrics.md, "Events"). ucarp has nothing but its log, so its one state line is
parsed here, and only here.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import time
import typing

from pycarp.lab.naming import HOST_INTERFACE, LabError

if typing.TYPE_CHECKING:
    from pycarp.lab.lab import Lab

LAB_PASSPHRASE = "secret"  # noqa: S105 - the lab's throwaway test passphrase
# ucarp's only account of its state (it logs to stderr, which the lab captures in its log).
UCARP_STATE = re.compile(r"Switching to state: (INIT|BACKUP|MASTER)")
Event = dict[str, typing.Any]


@dataclasses.dataclass
class Daemon:
    """A daemon process on a lab node, with its log file (and pycarp's control socket, state
    directory and ``--events`` file, each its own)."""

    kind: str  # "pycarp" or "ucarp"
    node: str
    process: subprocess.Popen[bytes]
    log_path: pathlib.Path
    control_path: pathlib.Path | None = None
    state_dir: pathlib.Path | None = None
    events_path: pathlib.Path | None = None

    _events: list[Event] = dataclasses.field(default_factory=list, init=False, repr=False)
    _events_read: int = dataclasses.field(default=0, init=False, repr=False)

    def events(self, kind: str | None = None) -> list[Event]:
        """Every event the daemon wrote so far (``--events`` JSON lines), in order; only those
        of ``kind`` if given.

        Read incrementally: a poll costs the new lines only, which matters to a benchmark
        watching thousands of groups. A line not yet finished (no newline) waits for the next
        call.
        """
        if self.events_path is not None and self.events_path.exists():
            with self.events_path.open("rb") as stream:
                stream.seek(self._events_read)
                chunk = stream.read()
            complete = chunk[: chunk.rfind(b"\n") + 1]
            self._events_read += len(complete)
            self._events += [json.loads(line) for line in complete.splitlines() if line.strip()]
        return [event for event in self._events if kind in (None, event["event"])]

    def wait_for_event(
        self, kind: str, timeout: float, *, after: int = 0, **match: typing.Any
    ) -> Event:
        """The first event of ``kind`` whose fields equal ``match``, among the events after
        the first ``after`` (a count of :meth:`events` taken earlier); waits for it, bounded.

        LabError after ``timeout``, or at once if the process exited first, with its log tail:
        a dead daemon never writes the event, and its last words say why.
        """
        deadline = time.monotonic() + timeout
        while True:
            for event in self.events()[after:]:
                if event["event"] == kind and all(event.get(k) == v for k, v in match.items()):
                    return event
            if not self.alive():
                raise LabError(
                    f"{self.kind} on {self.node} exited ({self.process.returncode}) before "
                    f"a {kind} event {match}:\n{self.log()[-2000:]}"
                )
            if time.monotonic() > deadline:
                raise LabError(
                    f"{self.kind} on {self.node}: no {kind} event {match} in {timeout:g} s"
                )
            time.sleep(0.02)

    def started_groups(self) -> list[str]:
        """``VHID@IF`` of every group started so far (a reload may start some again)."""
        return [event["group"] for event in self.events("group_started")]

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def alive(self) -> bool:
        return self.process.poll() is None

    def control(self, *command: str, timeout: float = 15.0) -> subprocess.CompletedProcess[str]:
        """Run ``pycarp COMMAND... --control <this daemon's socket>`` (status, maintenance,
        demote, state) and return what it did; the caller checks the exit status."""
        if self.control_path is None:
            raise LabError(f"{self.kind} on {self.node} has no control socket")
        argv = [sys.executable, "-m", "pycarp", *command, "--control", str(self.control_path)]
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)

    def status(self) -> dict[str, typing.Any]:
        """The daemon's status document, asked over its control socket in this process (what
        ``pycarp status --json`` prints, without starting an interpreter per look)."""
        from pycarp.control.client import ClientError, request

        if self.control_path is None:
            raise LabError(f"{self.kind} on {self.node} has no control socket")
        try:
            reply = request(self.control_path, {"v": 1, "command": "status"}, timeout=10.0)
        except ClientError as error:
            raise LabError(f"pycarp status on {self.node}: {error}") from None
        if not reply.get("ok"):
            raise LabError(f"pycarp status on {self.node}: {reply.get('message')}")
        document: dict[str, typing.Any] = reply["status"]
        return document

    def wait_for_message(self, text: str, timeout: float) -> str:
        """Block until the log has a line containing ``text``; returns that line.

        Only for tests about what an operator reads (an error message, a warning), never to
        learn state or timing: those come from :meth:`events` and :meth:`status`.
        """
        deadline = time.monotonic() + timeout
        while True:
            found = next((line for line in self.log().splitlines() if text in line), None)
            if found is not None:
                return found
            if not self.alive():
                raise LabError(
                    f"{self.kind} on {self.node} exited ({self.process.returncode}) "
                    f"before logging {text!r}:\n{self.log()[-2000:]}"
                )
            if time.monotonic() > deadline:
                raise LabError(f"{self.kind} on {self.node}: no {text!r} in {timeout:g} s")
            time.sleep(0.02)

    def state_changes(self) -> list[tuple[int, str, str, str]]:
        """(vhid, old, new, reason) of every ``state_changed`` event, in order (pycarp only)."""
        return [
            (event["vhid"], event["old"], event["new"], event["reason"])
            for event in self.events("state_changed")
        ]

    def states(self) -> list[str]:
        """Every state the daemon entered, in order: pycarp's from its events, ucarp's from
        its log (the one place that reads it)."""
        if self.kind == "ucarp":
            return UCARP_STATE.findall(self.log())
        if self.kind != "pycarp":
            raise LabError(f"no state reader for {self.kind}")
        return [new for _vhid, _old, new, _reason in self.state_changes()]

    def signal(self, signum: int) -> None:
        if self.alive():
            os.kill(self.pid, signum)

    def kill(self) -> None:
        """kill -9: no bow-out, no clean-up (the addresses stay behind, as after a crash)."""
        self.signal(signal.SIGKILL)
        self.process.wait(timeout=5)

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM and wait: pycarp bows out and releases its addresses; returns the status."""
        self.signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise LabError(
                f"{self.kind} on {self.node} ignored SIGTERM for {timeout:g} s"
            ) from None

    def pause(self) -> None:
        self.signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.signal(signal.SIGCONT)


def start_pycarp(
    lab: Lab,
    node: str,
    args: typing.Sequence[str],
    *,
    workdir: pathlib.Path,
    passphrase: str | None = LAB_PASSPHRASE,
    tag: str = "",
    wrapper: typing.Sequence[str] = (),
    program: typing.Sequence[str] = ("-m", "pycarp"),
) -> Daemon:
    """Run ``python -m pycarp ARGS`` on ``node`` (the passphrase goes in ``PYCARP_PASS``),
    through ``wrapper`` if given (e.g. :func:`as_user`); ``program`` replaces ``-m pycarp``
    (e.g. ``-c CODE`` to run pycarp under a changed environment, such as a fake clock).

    Unless ``args`` name their own, the daemon gets a control socket and a state directory in
    the lab's run directory and an ``--events`` file in ``workdir``, all named after the node
    and ``tag``: two daemons never share them (a second one would find the first's socket, or
    its maintenance mode).
    """
    env = dict(os.environ)
    if passphrase is not None:
        env["PYCARP_PASS"] = passphrase
    log_path = workdir / f"pycarp-{node}{tag}.log"
    control, state, events = (
        _given(args, flag) for flag in ("--control", "--state-dir", "--events")
    )
    extra: list[str] = []
    if "--control" not in args:
        control = lab.run_dir / f"{node}{tag}.sock"
        extra += ["--control", str(control)]
    if "--state-dir" not in args:
        state = lab.run_dir / f"state-{node}{tag}"
        extra += ["--state-dir", str(state)]
    if "--events" not in args:
        events = workdir / f"events-{node}{tag}.jsonl"
        events.unlink(missing_ok=True)
        extra += ["--events", str(events)]
    args = [*args, *extra]
    with log_path.open("wb") as log:
        process = lab.popen(
            node,
            [*wrapper, sys.executable, *program, *args],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    return Daemon("pycarp", node, process, log_path, control, state, events)


def _given(args: typing.Sequence[str], flag: str) -> pathlib.Path | None:
    """The path the caller gave with ``flag`` (the daemon is watched there), None if none
    (or ``-``/``off``: nothing to read)."""
    value = args[list(args).index(flag) + 1] if flag in args else "-"
    return None if value in ("-", "off") else pathlib.Path(value)


NOBODY = 65534  # Debian's user (and group) nobody
DAEMON_CAPABILITIES = ("net_raw", "net_admin")


def as_user(
    uid: int = NOBODY, capabilities: typing.Sequence[str] = DAEMON_CAPABILITIES
) -> list[str]:
    """A ``setpriv`` prefix running a program as ``uid`` (and its group) with no supplementary
    group and only ``capabilities`` (setpriv's names), in every set a child could inherit or
    regain them from, and no_new_privs: what systemd's ``User=``, ``AmbientCapabilities=``,
    ``CapabilityBoundingSet=`` and ``NoNewPrivileges=`` give pycarp.service. Root only (it
    changes the uid)."""
    sets = ",".join(["-all", *(f"+{c}" for c in capabilities)])
    return [
        "setpriv",
        f"--reuid={uid}",
        f"--regid={uid}",
        "--clear-groups",
        f"--inh-caps={sets}",
        f"--ambient-caps={sets}",
        f"--bounding-set={sets}",
        "--no-new-privs",
        "--",
    ]


def why_user_cannot_run_pycarp(uid: int = NOBODY) -> str | None:
    """Why ``uid`` cannot even start this interpreter with pycarp (None: it can).

    Where it cannot, a checkout or a chroot other users may not enter (the fresh-machine
    check's root directory is mode 0700), an unprivileged run cannot be tested at all.
    """
    probe = subprocess.run(
        [*as_user(uid, ()), sys.executable, "-c", "import pycarp.cli.run"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        cwd="/",
    )
    if probe.returncode == 0:
        return None
    return (probe.stderr.strip().splitlines() or ["no output"])[-1]


def pycarp_args(
    lab: Lab,
    node: str,
    *,
    vhid: int = 1,
    addresses: typing.Sequence[str] = ("198.51.100.100/24",),
    advbase: int = 1,
    advskew: int = 0,
    extra: typing.Sequence[str] = (),
) -> list[str]:
    """ucarp-style flags for one group on the node's ``eth0``."""
    args = ["-i", HOST_INTERFACE, "-s", str(lab.ipv4(node).ip), "-v", str(vhid)]
    args += ["-b", str(advbase), "-k", str(advskew)]
    for address in addresses:
        args += ["-a", address]
    return [*args, *extra]


def write_config(path: pathlib.Path, groups: typing.Sequence[dict[str, object]]) -> pathlib.Path:
    """A pycarp TOML file with one ``[[group]]`` per dict (values: str, int, bool, list)."""
    lines: list[str] = []
    for group in groups:
        lines.append("[[group]]")
        for key, value in group.items():
            lines.append(f"{key} = {_toml_value(value)}")
        lines.append("")
    path.write_text("\n".join(lines))
    return path


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


UCARP_UP = """#!/bin/sh
# ucarp up script: $1 = interface, $2 = virtual address
exec ip addr add "$2/{prefix}" dev "$1"
"""
UCARP_DOWN = """#!/bin/sh
ip addr del "$2/{prefix}" dev "$1" 2>/dev/null
exit 0
"""


def start_ucarp(
    lab: Lab,
    node: str,
    *,
    workdir: pathlib.Path,
    vhid: int = 1,
    address: str = "198.51.100.100",
    prefix: int = 24,
    passphrase: str = LAB_PASSPHRASE,
    advbase: int = 1,
    advskew: int = 0,
    preempt: bool = False,
    extra: typing.Sequence[str] = (),
    tag: str = "",
) -> Daemon:
    """Run ucarp with up/down scripts that add/remove ``address``, as ucarp users do."""
    if not _have("ucarp"):
        raise LabError("ucarp is not installed (Debian package ucarp)")
    scripts = {}
    for name, text in (("up", UCARP_UP), ("down", UCARP_DOWN)):
        script = workdir / f"ucarp-{name}.sh"
        if not script.exists():
            script.write_text(text.format(prefix=prefix))
            script.chmod(0o755)
        scripts[name] = script
    argv = ["ucarp", "-i", HOST_INTERFACE, "-s", str(lab.ipv4(node).ip), "-v", str(vhid)]
    argv += ["-p", passphrase, "-a", address, "-b", str(advbase), "-k", str(advskew)]
    argv += ["-u", str(scripts["up"]), "-d", str(scripts["down"]), "-z"]
    if preempt:
        argv.append("-P")
    argv += list(extra)
    log_path = workdir / f"ucarp-{node}{tag}.log"
    with log_path.open("wb") as log:
        process = lab.popen(
            node, argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
        )
    return Daemon("ucarp", node, process, log_path)


def _have(program: str) -> bool:
    return shutil.which(program, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin") is not None


def wait_for(predicate: typing.Callable[[], bool], timeout: float, interval: float = 0.01) -> float:
    """Poll ``predicate`` until true; returns the seconds it took; LabError after ``timeout``."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise LabError(f"condition not met within {timeout:g} s")
        time.sleep(interval)
    return time.monotonic() - started
