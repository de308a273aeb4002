"""Network namespaces by name: run commands in them, enter them from a thread, remove them.

Everything goes through iproute2 (``ip netns``), except :func:`inside`, which moves only the
calling thread with ``setns(2)`` so a test can open sockets in a host namespace without starting
a process. Processes are only ever ended by PID.
"""

from __future__ import annotations

import contextlib
import ctypes
import ipaddress
import json
import os
import signal
import subprocess
import time
import typing

from pycarp.core.constants import IPInterface
from pycarp.lab import programs
from pycarp.lab.naming import LabError

NETNS_DIR = "/run/netns"
_CLONE_NEWNET = 0x40000000
_COMMAND_TIMEOUT = 15.0


def run(
    argv: typing.Sequence[str],
    *,
    stdin: str | None = None,
    check: bool = True,
    timeout: float = _COMMAND_TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    """Run a command to completion (bounded in time); on failure raise LabError with stderr.

    A missing program is always an error (MissingProgram), whatever ``check`` says.
    """
    programs.require(argv[0])
    try:
        done = subprocess.run(
            list(argv), input=stdin, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"timed out after {timeout:g} s: {' '.join(argv)}") from exc
    if check and done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().replace("\n", "; ")
        raise LabError(f"{' '.join(argv)} failed ({done.returncode}): {detail}")
    return done


def ip_batch(namespace: str | None, commands: typing.Sequence[str]) -> None:
    """Several ``ip`` commands in one process (much faster than one process each)."""
    argv = ["ip", *(["-n", namespace] if namespace else []), "-batch", "-"]
    run(argv, stdin="\n".join(commands) + "\n")


def run_in(
    namespace: str,
    argv: typing.Sequence[str],
    *,
    stdin: str | None = None,
    check: bool = True,
    timeout: float = _COMMAND_TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    """:func:`run` for ``argv`` inside ``namespace`` (its program is checked before ``ip``
    runs: ``ip netns exec`` would only report a missing one with an exit status)."""
    programs.require(argv[0])
    return run(exec_argv(namespace, argv), stdin=stdin, check=check, timeout=timeout)


def exec_argv(namespace: str, argv: typing.Sequence[str]) -> list[str]:
    """The argv that runs ``argv`` inside ``namespace`` (``ip netns exec`` execs, no fork)."""
    return ["ip", "netns", "exec", namespace, *argv]


def list_namespaces() -> list[str]:
    """Names of every named network namespace (``ip netns list`` reads the same directory)."""
    try:
        return sorted(os.listdir(NETNS_DIR))
    except FileNotFoundError:
        return []


def exists(namespace: str) -> bool:
    return os.path.exists(os.path.join(NETNS_DIR, namespace))


def namespace_pids(namespace: str) -> list[int]:
    """PIDs of the processes in ``namespace`` (none if it no longer exists)."""
    done = run(["ip", "netns", "pids", namespace], check=False)
    if done.returncode != 0 and exists(namespace):
        detail = done.stderr.strip().replace("\n", "; ")
        raise LabError(f"ip netns pids {namespace} failed ({done.returncode}): {detail}")
    return [int(word) for word in done.stdout.split() if word.isdigit()]


def end_processes(pids: typing.Iterable[int], grace: float = 2.0) -> None:
    """SIGTERM each PID, wait up to ``grace`` seconds, then SIGKILL the ones still there."""
    pending = {pid for pid in pids if pid not in (0, os.getpid())}
    for pid in pending:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while pending and time.monotonic() < deadline:
        pending = {pid for pid in pending if process_alive(pid)}
        if pending:
            time.sleep(0.02)
    for pid in pending:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def end_child(process: subprocess.Popen[typing.Any], grace: float = 5.0) -> None:
    """SIGTERM a child we started, wait up to ``grace`` seconds, then SIGKILL; always reaped."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def process_alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (a zombie is dead, just not reaped)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            state = stat.read().rpartition(")")[2].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X")


def add_namespaces(namespaces: typing.Sequence[str]) -> None:
    missing = [ns for ns in namespaces if not exists(ns)]
    if missing:
        ip_batch(None, [f"netns add {ns}" for ns in missing])


def delete_namespace(namespace: str) -> None:
    """End every process left in the namespace (by PID), then delete it. Idempotent."""
    if not exists(namespace):
        return
    end_processes(namespace_pids(namespace), grace=1.0)
    run(["ip", "netns", "del", namespace], check=False)
    if exists(namespace):
        raise LabError(f"could not delete network namespace {namespace}")


def addresses(namespace: str, interface: str) -> list[IPInterface]:
    """Every address on ``interface`` in ``namespace`` (``ip -j addr``), link-local included."""
    done = run(["ip", "-n", namespace, "-j", "addr", "show", "dev", interface])
    found: list[IPInterface] = []
    for link in json.loads(done.stdout or "[]"):
        for info in link.get("addr_info", []):
            found.append(ipaddress.ip_interface(f"{info['local']}/{info['prefixlen']}"))
    return found


def link_flags(namespace: str, interface: str) -> set[str]:
    done = run(["ip", "-n", namespace, "-j", "link", "show", "dev", interface])
    links = json.loads(done.stdout or "[]")
    return set(links[0].get("flags", [])) if links else set()


def _setns(fd: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, _CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


def _same_namespace(fd: int) -> bool:
    here = os.stat("/proc/thread-self/ns/net")
    there = os.fstat(fd)
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)


@contextlib.contextmanager
def inside(namespace: str) -> typing.Iterator[None]:
    """Run the body with the calling thread (only) in ``namespace``; always come back.

    Sockets created in the body stay in that namespace after it ends, which is exactly what a
    test needs to drive the platform adapters of one host. Entering is verified: if the thread
    is not where it should be, the body never runs (it would touch the real network).
    """
    target = os.open(os.path.join(NETNS_DIR, namespace), os.O_RDONLY | os.O_CLOEXEC)
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        _setns(target)
        try:
            if not _same_namespace(target):
                raise LabError(f"setns into {namespace} did not take effect")
            yield
        finally:
            _setns(home)
            if not _same_namespace(home):  # pragma: no cover - the kernel would be broken
                raise LabError(f"could not return from namespace {namespace}")
    finally:
        os.close(target)
        os.close(home)
