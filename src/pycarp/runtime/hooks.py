"""Run operator scripts (ucarp up/down scripts, devd-style notify) safely.

No shell, a timeout (the whole process group is killed when it expires), output logged line by
line under the group's name, and failures counted, never raised: a broken script must not take
the daemon down, and a hanging one must not delay anything but the scripts queued behind it.

A hook gets neither the daemon's secrets nor its privileges: no passphrase in its environment
(:func:`hook_environment`), and no capability beyond what its address mode needs
(:func:`drop_privileges`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import functools
import logging
import os
import pathlib
import shutil
import signal
from collections.abc import Collection, Mapping, Sequence

from pycarp.config.build import PASS_ENV

log = logging.getLogger("pycarp.hooks")

CAP_SETPCAP = 8
CAP_NET_ADMIN = 12
CAP_NET_RAW = 13
# What a ucarp-style up/down script needs: `ip addr add/del` (NET_ADMIN) and arping (NET_RAW).
ADDRESS_CAPABILITIES = frozenset({CAP_NET_ADMIN, CAP_NET_RAW})
_CAPABILITY_NAMES = {CAP_NET_ADMIN: "net_admin", CAP_NET_RAW: "net_raw"}


@dataclasses.dataclass(slots=True)
class HookStats:
    runs: int = 0
    failures: int = 0  # non-zero exit, or could not be started
    timeouts: int = 0


async def run_script(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    time_limit: float,
    label: str,
    stats: HookStats,
    secrets: Collection[bytes] = (),
    capabilities: Collection[int] = (),
) -> int | None:
    """Run ``argv``; return its exit status, or None if it could not start or timed out.

    ``env`` is added to the daemon's environment minus ``secrets`` (see
    :func:`hook_environment`); the script keeps only ``capabilities`` (see
    :func:`drop_privileges`).
    """
    stats.runs += 1
    try:
        process = await start_unprivileged(argv, hook_environment(env, secrets), capabilities)
    except OSError as error:
        stats.failures += 1
        log.error("%s: cannot run %s: %s", label, argv[0], error.strerror or error)
        return None
    try:
        async with asyncio.timeout(time_limit):
            await _log_output(process, label)
            status = await process.wait()
    except TimeoutError:
        stats.timeouts += 1
        await kill_process_group(process)
        log.error("%s: %s still running after %gs: killed", label, argv[0], time_limit)
        return None
    except asyncio.CancelledError:
        # The daemon is stopping and gave up waiting: the hook must not outlive it.
        await kill_process_group(process)
        log.error("%s: %s still running at exit: killed", label, argv[0])
        raise
    if status != 0:
        stats.failures += 1
        log.warning("%s: %s exited with status %d", label, argv[0], status)
    else:
        log.debug("%s: %s done", label, argv[0])
    return status


async def start_unprivileged(
    argv: Sequence[str], environment: Mapping[str, str], capabilities: Collection[int]
) -> asyncio.subprocess.Process:
    """Start ``argv`` as hooks and checks run: no stdin, stdout and stderr in one pipe, in a
    process group of its own (a timeout kills its children too), with only ``capabilities``.
    A program that is not there raises FileNotFoundError before anything is forked."""
    if shutil.which(argv[0], path=environment.get("PATH", os.defpath)) is None:
        raise FileNotFoundError(errno.ENOENT, "not found or not executable")
    return await asyncio.create_subprocess_exec(
        *drop_privileges(argv, capabilities),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=dict(environment),
        start_new_session=True,
    )


async def kill_process_group(process: asyncio.subprocess.Process) -> None:
    """Kill the script and everything it started (its own session), then reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    await process.wait()


async def _log_output(process: asyncio.subprocess.Process, label: str) -> None:
    assert process.stdout is not None
    async for raw in process.stdout:
        line = raw.decode(errors="replace").rstrip()
        if line:
            log.info("%s: %s", label, line)


# -- secrets -----------------------------------------------------------------------------------


def hook_environment(extra: Mapping[str, str], secrets: Collection[bytes]) -> dict[str, str]:
    """The daemon's environment without any passphrase, plus ``extra`` (the PYCARP_* facts).

    Removed: ``PYCARP_PASS`` always, and every variable whose value is one of ``secrets`` (the
    passphrases of the daemon's groups). A group's ``pass_env`` variable holds exactly its
    passphrase, so matching by value hides it without the configuration having to remember
    which variable each secret came from, and also hides a copy the operator exported under
    another name. (A variable that merely equals a passphrase by chance, e.g. a passphrase
    "root" and ``USER=root``, is hidden too: it would give the passphrase away as well.)
    The daemon's own ``os.environ`` is left alone: a SIGHUP reload reads the variables again.
    """
    hidden = {secret for secret in secrets if secret}
    kept = {
        name: value
        for name, value in os.environ.items()
        if name != PASS_ENV and os.fsencode(value) not in hidden
    }
    return {**kept, **extra}


# -- privileges --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Capabilities:
    """This process's capability sets, as bit masks (``/proc/self/status``)."""

    inheritable: int
    permitted: int
    effective: int
    bounding: int
    ambient: int

    @classmethod
    def of_this_process(cls) -> Capabilities:
        fields = {}
        for line in pathlib.Path("/proc/self/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.startswith("Cap"):
                fields[key] = int(value.strip(), 16)
        return cls(
            inheritable=fields.get("CapInh", 0),
            permitted=fields.get("CapPrm", 0),
            effective=fields.get("CapEff", 0),
            bounding=fields.get("CapBnd", 0),
            ambient=fields.get("CapAmb", 0),
        )


def drop_privileges(argv: Sequence[str], keep: Collection[int]) -> list[str]:
    """``argv`` wrapped so that the script runs with no capability but those in ``keep``.

    The wrapper is util-linux's ``setpriv`` (essential on Debian), not a ``preexec_fn``: the
    daemon has worker threads (netlink, announcements), and Python code between ``fork`` and
    ``exec`` in a threaded process can deadlock; ``setpriv`` is a separate program that does
    the drop with no Python in the child, and it knows the kernel's rules.

    * As root (real or effective uid 0) an ``exec`` grants the bounding set: the bounding set
      is emptied (or cut to ``keep``), and the inheritable and ambient sets are cleared (or cut
      to ``keep``). The script is still uid 0 but has CapPrm = CapEff = ``keep``, and cannot
      get more back, not even through a setuid-root program.
    * Dropping from the bounding set needs CAP_SETPCAP. An unprivileged daemon (ambient
      NET_RAW + NET_ADMIN) lacks it, and needs no bounding set: a non-root process gains on
      ``exec`` only its ambient set (cut to ``keep`` here) plus what the file itself carries,
      as for any user. A root daemon without CAP_SETPCAP cannot contain its scripts: a warning.
    * A non-root process without any capability has nothing to drop: ``argv`` runs as is.

    Only what the daemon itself holds can be kept (asking for more would make setpriv fail).
    """
    own = Capabilities.of_this_process()
    root = _is_root()
    if not root and _holds_nothing(own):
        return list(argv)
    setpriv = _setpriv()
    if setpriv is None:
        raise FileNotFoundError(errno.ENOENT, _NO_SETPRIV)
    kept = [c for c in sorted(set(keep)) if own.permitted & own.bounding & (1 << c)]
    sets = ",".join(["-all", *(f"+{_CAPABILITY_NAMES[c]}" for c in kept)])
    wrapper = [setpriv, f"--inh-caps={sets}", f"--ambient-caps={sets}"]
    if own.effective & (1 << CAP_SETPCAP):
        wrapper.append(f"--bounding-set={sets}")
    elif root:
        _warn_bounding_set()
    return [*wrapper, "--", *argv]


def hook_capabilities(native_addresses: bool) -> frozenset[int]:
    """What a hook keeps: nothing when pycarp moves the addresses itself; in scripts mode the
    scripts move them (``ip addr``, arping), so NET_ADMIN and NET_RAW."""
    return frozenset() if native_addresses else ADDRESS_CAPABILITIES


def privilege_problem() -> str | None:
    """Why hooks could not run without the daemon's privileges here (None: they can)."""
    if _setpriv() is not None:
        return None
    if not _is_root() and _holds_nothing(Capabilities.of_this_process()):
        return None
    return _NO_SETPRIV


_NO_SETPRIV = "setpriv (util-linux) not found: needed to run hooks without the daemon's privileges"


def _is_root() -> bool:
    return 0 in os.getresuid()[:2]


def _holds_nothing(own: Capabilities) -> bool:
    return not (own.permitted | own.inheritable | own.ambient)


def _setpriv() -> str | None:
    return shutil.which("setpriv") or shutil.which("setpriv", path="/usr/sbin:/usr/bin:/sbin:/bin")


@functools.cache
def _warn_bounding_set() -> None:
    """Once per process."""
    log.warning("running as root without CAP_SETPCAP: hooks keep the bounding set's capabilities")
