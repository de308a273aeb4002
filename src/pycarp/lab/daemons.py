"""Start CARP daemons (pycarp, ucarp) on lab hosts and watch them, for tests, demo and benchmarks.

Each daemon runs in its host's namespace as a child the lab owns (ended by PID at teardown),
writes its log to a file in a work directory, and can be killed (-9), stopped (bow-out),
paused and resumed by PID. ucarp gets the classic up/down scripts that add and remove its
address with ``ip addr``, exactly as its users write them.
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
STATE_LINE = re.compile(r"(\d+)@(\S+): (INIT|BACKUP|MASTER) -> (INIT|BACKUP|MASTER) \((.*)\)")


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

    def events(self) -> list[dict[str, typing.Any]]:
        """Every event the daemon wrote so far (``--events`` JSON lines), in order."""
        if self.events_path is None or not self.events_path.exists():
            return []
        lines = self.events_path.read_text(errors="replace").splitlines()
        # The last line may be half written while we read.
        return [json.loads(line) for line in lines if line.endswith("}")]

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

    def wait_for_log(self, pattern: str, timeout: float) -> re.Match[str]:
        """Block until ``pattern`` (a regex) appears in the log; LabError after ``timeout``."""
        compiled = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            found = compiled.search(self.log())
            if found:
                return found
            if time.monotonic() > deadline:
                raise LabError(f"{self.kind} on {self.node}: no {pattern!r} in {timeout:g} s")
            if not self.alive():
                raise LabError(
                    f"{self.kind} on {self.node} exited ({self.process.returncode}) "
                    f"before logging {pattern!r}:\n{self.log()[-2000:]}"
                )
            time.sleep(0.02)

    def state_changes(self) -> list[tuple[int, str, str, str]]:
        """(vhid, old, new, reason) for every state change pycarp logged, in order."""
        return [
            (int(m.group(1)), m.group(3), m.group(4), m.group(5))
            for m in STATE_LINE.finditer(self.log())
        ]

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
) -> Daemon:
    """Run ``python -m pycarp ARGS`` on ``node`` (the passphrase goes in ``PYCARP_PASS``),
    through ``wrapper`` if given (e.g. :func:`as_user`).

    Unless ``args`` name their own, the daemon gets a control socket and a state directory in
    the lab's run directory and an ``--events`` file in ``workdir``, all named after the node
    and ``tag``: two daemons never share them (a second one would find the first's socket, or
    its maintenance mode).
    """
    env = dict(os.environ)
    if passphrase is not None:
        env["PYCARP_PASS"] = passphrase
    log_path = workdir / f"pycarp-{node}{tag}.log"
    given = set(args)
    control = state = events = None
    extra: list[str] = []
    if "--control" not in given:
        control = lab.run_dir / f"{node}{tag}.sock"
        extra += ["--control", str(control)]
    if "--state-dir" not in given:
        state = lab.run_dir / f"state-{node}{tag}"
        extra += ["--state-dir", str(state)]
    if "--events" not in given:
        events = workdir / f"events-{node}{tag}.jsonl"
        events.unlink(missing_ok=True)
        extra += ["--events", str(events)]
    args = [*args, *extra]
    with log_path.open("wb") as log:
        process = lab.popen(
            node,
            [*wrapper, sys.executable, "-m", "pycarp", *args],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    return Daemon("pycarp", node, process, log_path, control, state, events)


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
