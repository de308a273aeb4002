"""What the control subcommands share: ``--control``, finding the socket, one request, exit codes.

Exit codes are the same for every control subcommand, so scripts can rely on them: 0 the daemon
did it, 1 the daemon refused (or could not be reached), 2 the command line is wrong (nothing
was sent). Arguments are checked with the protocol's own validation before connecting, so a
typo is a usage error here, with the message the daemon would give.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import typing
from typing import Any

from pycarp.config.operate import RUN_DIR
from pycarp.control import protocol
from pycarp.control.api import PROTOCOL_VERSION, ControlError
from pycarp.control.client import ClientError, request

DEFAULT_INSTANCE = "pycarp"
TIMEOUT = 10.0

CONTROL_HELP = (
    "the daemon's control socket: a path, or NAME for /run/pycarp/NAME.sock (default "
    "/run/pycarp/pycarp.sock, or the only *.sock in /run/pycarp)"
)


class UsageError(Exception):
    """A command-line mistake: one line, exit 2."""


class Parser(argparse.ArgumentParser):
    """Usage mistakes in one line (``pycarp status: error: ...``, exit 2)."""

    def error(self, message: str) -> typing.NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def parser(name: str, description: str, epilog: str) -> Parser:
    p = Parser(
        prog=f"pycarp {name}",
        description=description,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--control", metavar="PATH|NAME", help=CONTROL_HELP)
    return p


def socket_path(text: str | None, run_dir: pathlib.Path | None = None) -> pathlib.Path:
    """The socket ``--control`` names; without it, the default one or the only one running."""
    run_dir = RUN_DIR if run_dir is None else run_dir
    if text is not None:
        if not text or "\0" in text:
            raise UsageError(f"--control {text!r}: give a socket path or an instance NAME")
        if "/" not in text:
            return run_dir / f"{text}.sock"
        return pathlib.Path(text)
    default = run_dir / f"{DEFAULT_INSTANCE}.sock"
    if default.exists():
        return default
    try:
        found = sorted(run_dir.glob("*.sock"))
    except OSError:
        found = []
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        names = ", ".join(path.stem for path in found)
        raise UsageError(f"several daemons in {run_dir} ({names}): choose one with --control NAME")
    return default


def check(payload: dict[str, Any]) -> None:
    """Refuse locally what the daemon would refuse as ``bad_request``."""
    try:
        protocol.check_request({"v": PROTOCOL_VERSION, **payload})
    except ControlError as error:
        raise UsageError(error.message) from None


def ask(control: str | None, payload: dict[str, Any]) -> dict[str, Any]:
    """One request to the daemon; raises :class:`UsageError` or :class:`ClientError`."""
    check(payload)
    return request(socket_path(control), payload, TIMEOUT)


def command(name: str, control: str | None, payload: dict[str, Any]) -> int:
    """Send a steering request, print the daemon's one-line answer, return the exit code."""
    try:
        reply = ask(control, payload)
    except UsageError as error:
        return usage_error(name, str(error))
    except ClientError as error:
        return failure(str(error))
    if not reply["ok"]:
        return failure(reply["message"])
    print(reply["message"])
    return 0


def usage_error(name: str, message: str) -> int:
    print(f"pycarp {name}: error: {message}", file=sys.stderr)
    return 2


def failure(message: str) -> int:
    print(f"pycarp: error: {message}", file=sys.stderr)
    return 1
