"""The control socket's client: one request, one reply, or one line saying what went wrong.

Blocking and synchronous on purpose: the CLI sends one request and exits, so an event loop
would only add start-up time. Every failure the operator can meet (no daemon, wrong group, a
stale socket left by a crash, a hung daemon, a daemon of another version) becomes a
:class:`ClientError` whose message says what to do, never a traceback.
"""

from __future__ import annotations

import contextlib
import grp
import json
import os
import pathlib
import socket
import stat
import time
from typing import Any

from pycarp.control import protocol
from pycarp.control.api import PROTOCOL_VERSION


class ClientError(Exception):
    """The request did not get a valid reply; the message is one line for the operator."""


def request(path: pathlib.Path, payload: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Send ``payload`` (``v`` added if missing) and return the daemon's reply, as received.

    A reply with ``"ok": false`` is returned, not raised: refusing is the daemon's answer.
    """
    document = {"v": PROTOCOL_VERSION, **payload}
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.settimeout(timeout)
        try:
            connection.connect(str(path))
            # A daemon that refuses at once (busy) may close before our request is sent:
            # its answer is still in our receive queue, so read it rather than report EPIPE.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                connection.sendall(protocol.encode(document))
            raw = _read_line(connection, deadline)
        except FileNotFoundError:
            raise ClientError(f"no pycarp daemon at {path} (is it running? --control)") from None
        except PermissionError:
            raise ClientError(f"not permitted to use {path}: {_whom_to_ask(path)}") from None
        except ConnectionRefusedError:
            if not _is_socket(path):
                raise ClientError(
                    f"{path} is not a socket: give --control the daemon's socket"
                ) from None
            raise ClientError(f"daemon gone: {path} is stale") from None
        except TimeoutError:
            raise ClientError(f"no answer from {path} within {timeout:g} s") from None
        except OSError as error:
            raise ClientError(f"cannot talk to {path}: {error.strerror or error}") from None
    return _check_reply(path, raw)


def _read_line(connection: socket.socket, deadline: float) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        connection.settimeout(max(deadline - time.monotonic(), 0.001))
        chunk = connection.recv(65536)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
        if b"\n" in chunk:
            break
        if size > protocol.MAX_REPLY:
            break
    return b"".join(chunks)


def _check_reply(path: pathlib.Path, raw: bytes) -> dict[str, Any]:
    if not raw:
        raise ClientError(f"malformed reply from {path}: the daemon closed without answering")
    line, newline, _rest = raw.partition(b"\n")
    if not newline:
        raise ClientError(f"malformed reply from {path}: no complete line")
    try:
        reply = json.loads(line)
    except ValueError:
        raise ClientError(f"malformed reply from {path}: not JSON") from None
    if not isinstance(reply, dict):
        raise ClientError(f"malformed reply from {path}: not a JSON object")
    version = reply.get("v")
    if version != PROTOCOL_VERSION:
        raise ClientError(
            f"the daemon at {path} speaks control protocol {version!r}, this pycarp "
            f"{PROTOCOL_VERSION}: use the pycarp that runs it"
        )
    if not isinstance(reply.get("ok"), bool) or not isinstance(reply.get("message"), str):
        raise ClientError(f"malformed reply from {path}: no 'ok' and 'message'")
    if not reply["ok"] and not isinstance(reply.get("error"), str):
        raise ClientError(f"malformed reply from {path}: a refusal without an error code")
    return reply


def _is_socket(path: pathlib.Path) -> bool:
    try:
        return stat.S_ISSOCK(path.stat().st_mode)
    except OSError:
        return True  # vanished meanwhile: it was the stale socket


def _whom_to_ask(path: pathlib.Path) -> str:
    """Name the socket's group if we can see it: joining it is the usual fix."""
    with contextlib.suppress(OSError, KeyError):
        gid = os.stat(path).st_gid
        if gid != 0:
            return f"ask root or join group {grp.getgrgid(gid).gr_name}"
    return "ask root (or start the daemon with --control-group GROUP and join GROUP)"
