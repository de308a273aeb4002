"""The control socket's server: a Unix stream socket in the daemon's event loop.

Why it accepts connections itself (``loop.sock_accept``) instead of ``asyncio.start_unix_server``:
every connection handler then is a child task of :meth:`ControlServer.serve`, which the daemon
runs in its own TaskGroup, so no task outlives the daemon and the number of handlers is bounded
here, not by a hidden task list. And it binds the socket itself, so the file's mode and owner
are set before ``listen()``: no client can connect while the permissions are still wrong.

Permissions are checked twice, on purpose: the file (0660, owner the daemon, group the control
group) keeps strangers out, and the peer's credentials (SO_PEERCRED) are checked per connection,
so a socket whose mode someone loosened still refuses them, and the refusal is an event.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import grp
import logging
import os
import pathlib
import pwd
import socket
import stat
import struct
from collections.abc import Callable
from typing import Any

from pycarp.control import protocol
from pycarp.control.api import ControlError, Controller, DemoteMode
from pycarp.observe.facts import ControlRequest

log = logging.getLogger("pycarp.control")

SOCKET_MODE = 0o660
RUN_DIR_MODE = 0o755
MAX_CONNECTIONS = 16
WRITE_TIMEOUT = 10.0
ACCEPT_RETRY = 0.5  # seconds to wait after a failed accept (out of descriptors)
_UCRED = struct.Struct("3i")  # pid, uid, gid


class ControlSetupError(Exception):
    """The socket cannot be served; the message is one line for the operator."""


class ControlInUse(ControlSetupError):
    """Another live daemon serves this path (a ucarp-style daemon per vhid may fall back)."""


class ControlServer:
    """Serve ``controller`` on the Unix socket ``path``.

    Lifecycle, for the daemon: ``await start()`` before the groups start (a setup error stops
    the daemon with one line), then run ``serve()`` as a task of the daemon's TaskGroup, and
    ``await close()`` on the way out (idempotent; it also stops a running ``serve()``).
    ``group``: the control group's name (``--control-group``), or None. ``on_request``
    receives one :class:`ControlRequest` per request, refused ones included.
    """

    def __init__(
        self,
        path: pathlib.Path,
        controller: Controller,
        *,
        group: str | None,
        on_request: Callable[[ControlRequest], None],
        max_connections: int = MAX_CONNECTIONS,
        read_timeout: float = protocol.READ_TIMEOUT,
    ) -> None:
        self.path = path
        self._controller = controller
        self._group = group
        self._on_request = on_request
        self._max_connections = max_connections
        self._read_timeout = read_timeout
        self._uid = os.geteuid()
        self._gid: int | None = None  # the control group's gid, once resolved
        self._listener: socket.socket | None = None
        self._inode: tuple[int, int] | None = None
        self._serving: asyncio.Task[None] | None = None
        self._active = 0

    async def start(self) -> None:
        """Create, protect and listen on the socket; raise :class:`ControlSetupError`."""
        if self._group is not None:
            try:
                self._gid = grp.getgrnam(self._group).gr_gid
            except KeyError:
                raise ControlSetupError(
                    f"control group {self._group!r} does not exist: give an existing group "
                    "(getent group NAME) or none"
                ) from None
        self._make_parent()
        self._clear_stale()
        self._listener = self._bind()

    async def serve(self) -> None:
        """Accept connections until cancelled (or :meth:`close`); handlers are child tasks."""
        listener = self._listener
        if listener is None:
            raise RuntimeError("ControlServer.serve() before start()")
        self._serving = asyncio.current_task()
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.TaskGroup() as tasks:
                while True:
                    try:
                        connection, _address = await loop.sock_accept(listener)
                    except OSError as error:  # EMFILE and the like: the daemon must live on
                        log.warning("control socket: cannot accept: %s", error)
                        await asyncio.sleep(ACCEPT_RETRY)
                        continue
                    connection.setblocking(False)
                    if self._active >= self._max_connections:
                        _refuse_busy(connection, self._max_connections)
                        continue
                    self._active += 1
                    tasks.create_task(self._connection(connection))
        finally:
            self._serving = None

    async def close(self) -> None:
        """Stop serving, close the socket and remove its file (if it is still ours)."""
        serving = self._serving
        if serving is not None and serving is not asyncio.current_task():
            serving.cancel()
            await asyncio.wait({serving})
        if self._listener is not None:
            self._listener.close()
            self._listener = None
            with contextlib.suppress(OSError):
                info = self.path.lstat()
                if (info.st_dev, info.st_ino) == self._inode:
                    self.path.unlink()

    # -- setup ------------------------------------------------------------------------------

    def _make_parent(self) -> None:
        parent = self.path.parent
        if parent.is_dir():
            return
        try:
            parent.mkdir(parents=True, mode=RUN_DIR_MODE)
            os.chmod(parent, RUN_DIR_MODE)  # mkdir's mode is masked by the umask
        except OSError as error:
            raise ControlSetupError(
                f"cannot create the control socket's directory {parent}: {error.strerror}"
            ) from None

    def _clear_stale(self) -> None:
        """Remove a socket nobody answers on; refuse to steal one a live daemon serves."""
        try:
            info = self.path.lstat()
        except FileNotFoundError:
            return
        except OSError as error:
            raise ControlSetupError(f"cannot use {self.path}: {error.strerror}") from None
        if not stat.S_ISSOCK(info.st_mode):
            raise ControlSetupError(
                f"{self.path} exists and is not a socket: remove it or give --control"
            )
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        probe.settimeout(1.0)
        try:
            probe.connect(str(self.path))
        except ConnectionRefusedError:
            log.info("removing stale control socket %s", self.path)
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            return
        except FileNotFoundError:
            return
        except TimeoutError:
            pass  # listening, with a full backlog: alive
        except OSError as error:
            raise ControlSetupError(f"cannot use {self.path}: {error.strerror}") from None
        finally:
            probe.close()
        raise ControlInUse(f"another pycarp answers on {self.path}: give --control")

    def _bind(self) -> socket.socket:
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(str(self.path))
            # Connecting is refused until listen(): the mode and owner are right before then.
            os.chmod(self.path, SOCKET_MODE)
            gid = self._gid if self._gid is not None else os.getegid()
            os.chown(self.path, self._uid, gid)
            info = self.path.lstat()
            self._inode = (info.st_dev, info.st_ino)
            listener.listen(self._max_connections)
            listener.setblocking(False)
        except OSError as error:
            listener.close()
            if error.errno == errno.EADDRINUSE:
                raise ControlInUse(
                    f"another pycarp answers on {self.path}: give --control"
                ) from None
            reason = error.strerror or str(error)
            raise ControlSetupError(f"cannot create control socket {self.path}: {reason}") from None
        return listener

    # -- connections ------------------------------------------------------------------------

    def _permitted(self, uid: int, gid: int) -> bool:
        """Root, the daemon's own user, and members of the control group (if there is one)."""
        if uid in (0, self._uid):
            return True
        if self._gid is None:
            return False
        if gid == self._gid:
            return True
        try:
            user = pwd.getpwuid(uid)
        except KeyError:
            return False
        return self._gid in os.getgrouplist(user.pw_name, user.pw_gid)

    async def _connection(self, connection: socket.socket) -> None:
        """Answer requests, one line each, until the peer is done, silent, or misbehaves."""
        try:
            _pid, uid, gid = _UCRED.unpack(
                connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
            )
            permitted = self._permitted(uid, gid)
            reader, writer = await asyncio.open_unix_connection(
                sock=connection, limit=protocol.MAX_REQUEST
            )
        except OSError as error:
            log.warning("control connection failed: %s", error)
            connection.close()
            self._active -= 1
            return
        try:
            while True:
                line = await self._read_line(reader)
                if line is None:
                    return
                if isinstance(line, ControlError):
                    reply = self._refused(uid, "invalid", {}, line)
                    keep_open = False
                else:
                    reply, keep_open = self._answer(line, uid, permitted)
                writer.write(protocol.encode(reply))
                await asyncio.wait_for(writer.drain(), WRITE_TIMEOUT)
                if not keep_open:
                    return
        except (OSError, TimeoutError) as error:
            log.debug("control connection ended: %s", error)
        finally:
            self._active -= 1
            writer.close()

    async def _read_line(self, reader: asyncio.StreamReader) -> bytes | ControlError | None:
        """The next request line; None when the peer is done or silent for too long."""
        try:
            return await asyncio.wait_for(reader.readuntil(b"\n"), self._read_timeout)
        except asyncio.IncompleteReadError as end:
            return end.partial if end.partial.strip() else None  # a last line without "\n"
        except asyncio.LimitOverrunError:
            return protocol.bad(f"request longer than {protocol.MAX_REQUEST} bytes")
        except TimeoutError:
            return None

    def _answer(self, line: bytes, uid: int, permitted: bool) -> tuple[dict[str, Any], bool]:
        """The reply to one line, whether to keep the connection, and the request's event."""
        command, arguments = "invalid", {}
        request: protocol.Request | None = None
        invalid = protocol.bad("empty request")
        try:
            document = protocol.decode(line)
            command = protocol.command_of(document)
            request = protocol.check_request(document)
            arguments = request.arguments
        except ControlError as error:
            invalid = error
        if not permitted:
            may = (
                f"root, the daemon's user and group {self._group}"
                if self._group
                else ("root and the daemon's user")
            )
            refusal = ControlError(
                protocol.NOT_PERMITTED, f"uid {uid} may not use this socket: only {may} may"
            )
            return self._refused(uid, command, arguments, refusal), False
        if request is None:
            return self._refused(uid, command, arguments, invalid), True
        try:
            extra: dict[str, Any] = {}
            if request.command == "status":
                extra["status"] = self._controller.status()
                message = f"status of {len(extra['status'].get('groups', ()))} groups"
            else:
                message = self._act(request, uid)
            reply = protocol.ok_reply(message, **extra)
            protocol.encode(reply)  # a document JSON cannot carry is the daemon's bug
        except ControlError as error:
            return self._refused(uid, request.command, request.arguments, error), True
        except Exception as error:
            log.exception("control request %s failed", request.command)
            failure = ControlError(
                protocol.INTERNAL, f"{request.command} failed inside the daemon: {error!r}"
            )
            return self._refused(uid, request.command, request.arguments, failure), False
        self._report(uid, request.command, request.arguments, True, message)
        return reply, True

    def _act(self, request: protocol.Request, uid: int) -> str:
        arguments = request.arguments
        if request.command == "maintenance":
            return self._controller.maintenance(arguments["on"], uid=uid)
        if request.command == "demote":
            mode = DemoteMode(arguments["mode"])
            return self._controller.demote(mode, arguments["amount"], arguments["group"], uid=uid)
        return self._controller.force_state(arguments["group"], arguments["state"], uid=uid)

    def _refused(
        self, uid: int, command: str, arguments: dict[str, Any], error: ControlError
    ) -> dict[str, Any]:
        reply = protocol.error_reply(error.code, error.message)
        self._report(uid, command, arguments, False, reply["message"])
        return reply

    def _report(
        self, uid: int, command: str, arguments: dict[str, Any], ok: bool, message: str
    ) -> None:
        fact = ControlRequest(uid=uid, command=command, arguments=arguments, ok=ok, message=message)
        try:
            self._on_request(fact)
        except Exception:
            log.exception("control: the request event could not be delivered")


def _refuse_busy(connection: socket.socket, limit: int) -> None:
    """Over the connection limit: a best-effort one-line answer, without a task or a wait."""
    reply = protocol.error_reply(
        protocol.BUSY, f"too many control connections (limit {limit}): try again"
    )
    with contextlib.suppress(OSError):
        connection.send(protocol.encode(reply))
    connection.close()
