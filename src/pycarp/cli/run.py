"""``pycarp [ucarp options]`` / ``pycarp run``: the daemon."""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import logging
import os
import signal
import sys
import typing

from pycarp.cli import logs, stopping
from pycarp.config.flags import build_parser, config_from_args
from pycarp.config.model import ConfigError, DaemonConfig

if typing.TYPE_CHECKING:
    from pycarp.runtime.daemon import Daemon
    from pycarp.runtime.systemd import Notifier

log = logging.getLogger("pycarp")


def main(argv: list[str]) -> int:
    stop = stopping.catch()  # already done by `pycarp`'s main; here for direct callers
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args)
    except ConfigError as error:
        print(f"pycarp: error: {error}", file=sys.stderr)
        return 2
    if args.passphrase is not None:  # said to whoever typed it, before any fork
        print(
            "pycarp: warning: --pass shows the passphrase in `ps` to every user: prefer --passfile",
            file=sys.stderr,
        )
    if args.check_config:
        from pycarp.cli.check import check_config

        return check_config(config)
    missing = _privilege_problem()
    if missing is not None:
        print(f"pycarp: error: {missing}", file=sys.stderr)
        return 2
    problem = _hook_problem(config)
    if problem is not None:
        print(f"pycarp: error: {problem}", file=sys.stderr)
        return 2
    failed = _preflight(config)  # before the fork: a -B daemon's stderr goes nowhere
    if failed is not None:
        return failed
    if not _set_up_logging(config):
        return 2
    if config.daemonize:
        _daemonize()
    try:
        if stop.requested:  # SIGINT/SIGTERM during start-up: nothing was touched yet
            return 0
        return asyncio.run(_run(config, stop))
    finally:
        stop.ignore()


def _set_up_logging(config: DaemonConfig) -> bool:
    """Syslog with ``--facility`` or ``-B`` (ucarp's default facility then is ``daemon``).

    Without a syslog socket: stderr, said once; but ``-B`` closes stderr, so with ``-B`` the
    daemon would have no log at all and refuses to start (False).
    """
    facility = config.facility or ("daemon" if config.daemonize else None)
    try:
        logs.configure_logging(debug=config.debug, facility=facility)
    except logs.SyslogUnavailable as error:
        if config.daemonize:
            print(
                f"pycarp: error: syslog unavailable ({error}): -B would leave no log destination",
                file=sys.stderr,
            )
            return False
        print(f"pycarp: syslog unavailable ({error}): logging to stderr", file=sys.stderr)
        logs.configure_logging(debug=config.debug, facility=None)
    return True


def _privilege_problem() -> str | None:
    """The daemon needs CAP_NET_RAW and CAP_NET_ADMIN, not root (runtime/privileges.py)."""
    from pycarp.runtime.privileges import daemon_privilege_problem

    return daemon_privilege_problem()


def _hook_problem(config: DaemonConfig) -> str | None:
    """A hook or a track script would have to run with the daemon's privileges: refuse to
    start instead."""
    from pycarp.runtime.hooks import privilege_problem

    if runs_programs(config):
        return privilege_problem()
    return None


def runs_programs(config: DaemonConfig) -> bool:
    """Some hook or track script would be run (each needs setpriv to drop privileges)."""
    from pycarp.config.tracks import TrackKind

    hooks = any(g.upscript or g.downscript or g.notify for g in config.groups)
    return hooks or any(t.kind is TrackKind.SCRIPT for t in config.tracks)


async def _run(config: DaemonConfig, stop: stopping.StopSignals | None = None) -> int:
    from pycarp.platform.linux import linux_platform
    from pycarp.runtime.daemon import Daemon
    from pycarp.runtime.systemd import Notifier

    loop = asyncio.get_running_loop()
    # Worker threads (netlink, announcements) never take SIGINT/SIGTERM: the main thread does,
    # so the daemon can block them for an instant while it swaps handlers (runtime/daemon.py).
    loop.set_default_executor(
        concurrent.futures.ThreadPoolExecutor(initializer=_main_thread_takes_the_signals)
    )
    notifier = Notifier()  # systemd's Type=notify and watchdog; idle when not under systemd

    reload = None
    if config.config_path is not None:
        from pycarp.config.toml import load_config
        from pycarp.runtime.preflight import check_host

        path = config.config_path

        def reload() -> DaemonConfig:
            # In a worker thread, while the daemon keeps running: systemd shows "reloading"
            # until the file is read (accepted or refused, the daemon goes on either way).
            notifier.reloading()
            try:
                loaded = load_config(path)
                check_host(loaded, platform.addresses)  # a new group on a missing interface
                return loaded
            finally:
                notifier.ready()

    try:
        platform = linux_platform()
    except OSError as error:
        log.error("cannot open netlink: %s", error)
        return 1
    daemon = Daemon(config, platform, reload=reload)
    if stop is not None:
        stop.forward_to(loop, daemon.request_stop)
        if stop.requested:  # SIGINT/SIGTERM during start-up: nothing was touched yet
            return 0
    # What exists now (modules, classes, the configuration: ~50,000 objects) lives as long as
    # the process. Freezing it keeps full collections, which a takeover of many groups at once
    # triggers, from walking all of it: 20-40 ms of stall with 255 groups, ~1 ms frozen
    # (bench/scale.py). Steady state allocates no cycles, so this costs nothing there.
    gc.collect()
    gc.freeze()
    try:
        return await _run_and_notify(daemon, notifier)
    except ExceptionGroup as group:
        # An OS refusal (no such interface, address in use, ...) is an operator problem: one
        # line each, no traceback. Anything else is a bug and keeps its traceback.
        failures, others = group.split(OSError)
        if others is not None or failures is None:
            raise
        for failure in _leaves(failures):
            log.error("fatal: %s", failure)
        return 1
    finally:
        notifier.close()


async def _run_and_notify(daemon: Daemon, notifier: Notifier) -> int:
    """The daemon, and beside it the notifier: READY=1 once every group has started, the
    watchdog pinged from this loop, STATUS as the groups' states change, STOPPING=1 at the end.
    """
    from pycarp.observe.facts import DaemonStopping
    from pycarp.observe.stream import Published
    from pycarp.runtime.systemd import summarise

    def summary() -> str:
        return summarise(driver.state.value for driver in daemon.drivers.values())

    def on_fact(published: Published) -> None:
        if isinstance(published.fact, DaemonStopping):  # said when the stop begins
            notifier.stopping()

    daemon.stream.subscribe(on_fact)
    async with asyncio.TaskGroup() as tasks:
        telling = tasks.create_task(notifier.run(summary, ready=daemon.started))
        try:
            return await daemon.run()
        finally:
            notifier.stopping()
            telling.cancel()


def _leaves(group: BaseExceptionGroup[OSError]) -> list[OSError]:
    """The exceptions in ``group`` and the groups nested in it (the TaskGroups nest)."""
    found: list[OSError] = []
    for each in group.exceptions:
        found.extend(_leaves(each) if isinstance(each, BaseExceptionGroup) else [each])
    return found


def _main_thread_takes_the_signals() -> None:
    signal.pthread_sigmask(signal.SIG_BLOCK, stopping.STOP_SIGNALS)


def _preflight(config: DaemonConfig) -> int | None:
    """Interfaces exist, sources are the host's own: an exit status if not, else None."""
    from pycarp.platform.linux import linux_address_manager
    from pycarp.runtime.preflight import check_host

    try:
        addresses = linux_address_manager()
    except OSError as error:
        print(f"pycarp: error: cannot open netlink: {error}", file=sys.stderr)
        return 1
    try:
        check_host(config, addresses)
    except ConfigError as error:
        print(f"pycarp: error: {error}", file=sys.stderr)
        return 2
    finally:
        addresses.close()
    return None


def _daemonize() -> None:
    """Classic double fork, as ucarp -B: detach from the terminal, keep running in /."""
    if os.fork() > 0:
        os._exit(0)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    os.chdir("/")
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
