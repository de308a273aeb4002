"""A minimal, strict HTTP server for ``GET /metrics``, on the daemon's own event loop.

Why not ``prometheus_client.start_http_server``: it serves from a thread of its own, so a scrape
would call ``status()`` and walk the daemon's live group state while the event loop is changing
it (a dict resized mid-iteration, a group half-reloaded, a state read between two fields of one
transition). Serving from the loop makes every scrape see one consistent moment, with no locks
in the protocol code, and costs nothing while nobody scrapes.

The server speaks just enough HTTP/1.0 and 1.1 for Prometheus, curl and a browser: one request
per connection, answered and closed. Everything a hostile or broken client can do is bounded:
the request head size (:data:`MAX_HEAD_BYTES`), the time to send it and to take the answer
(``timeout``), and the number of connections at once (``max_connections``; later ones get 503).
Malformed requests get a 400 and never an exception in the daemon.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from http import HTTPStatus

from prometheus_client import CONTENT_TYPE_LATEST

log = logging.getLogger("pycarp")

PATH = "/metrics"
MAX_HEAD_BYTES = 8192
MAX_HEADER_LINES = 64
LINGER = 1.0  # seconds to wait for a client to finish sending before closing
MAX_DISCARD = 65536  # bytes of unread request read and thrown away before closing
VERSIONS = ("HTTP/1.0", "HTTP/1.1")
METHODS = ("GET", "HEAD")


class BadRequest(Exception):
    """The request cannot be answered: ``status`` says why (400, 405, 404, 505)."""

    def __init__(self, status: HTTPStatus) -> None:
        super().__init__(status.phrase)
        self.status = status


class ExpositionServer:
    """Serves ``render()`` at ``/metrics``; ``render`` runs on the loop, one call per scrape."""

    def __init__(
        self,
        render: Callable[[], bytes],
        *,
        content_type: str = CONTENT_TYPE_LATEST,
        timeout: float = 5.0,
        max_connections: int = 16,
    ) -> None:
        self._render = render
        self._content_type = content_type
        self._timeout = timeout
        self._max_connections = max_connections
        self._server: asyncio.Server | None = None
        # The asyncio server starts one task per connection; we keep them (and their writers),
        # so close() can end them and nothing outlives the daemon (Python 3.11's wait_closed
        # does not wait for them). They are ended by aborting the connection, never cancelled:
        # Python 3.11's stream server logs a cancelled handler as an unhandled error.
        self._connections: dict[asyncio.Task[None], asyncio.StreamWriter] = {}

    async def start(self, host: str, port: int) -> None:
        """Listen on ``host`` (an IPv4 or IPv6 address) and ``port`` (0: any free port)."""
        self._server = await asyncio.start_server(
            self._handle, host, port, limit=MAX_HEAD_BYTES, reuse_address=True
        )

    @property
    def addresses(self) -> list[tuple[str, int]]:
        """Where the server listens: ``(host, port)`` per socket (the real port if 0 was asked)."""
        if self._server is None:
            return []
        return [sock.getsockname()[:2] for sock in self._server.sockets]

    async def close(self) -> None:
        """Stop listening and end the connections still open."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._connections.values()):
            writer.transport.abort()
        await asyncio.gather(*self._connections, return_exceptions=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None  # a connection handler always runs in a task
        self._connections[task] = writer
        try:
            async with asyncio.timeout(self._timeout):
                await self._answer(reader, writer)
        except (TimeoutError, ConnectionError):
            pass  # the client was too slow or went away: nothing to tell it
        finally:
            try:
                await self._linger(reader, writer)
            finally:
                del self._connections[task]

    async def _linger(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Close after the answer: end our side, discard what the client still sends (bounded
        in bytes and time), then close. Closing with unread input makes the kernel send a
        reset, which can destroy the answer before the client has read it (a 503 sent before
        the request arrived, a 400 for an overlong head)."""
        with contextlib.suppress(OSError, TimeoutError):
            async with asyncio.timeout(min(self._timeout, LINGER)):
                if writer.can_write_eof() and not writer.is_closing():
                    writer.write_eof()
                discarded = 0
                while discarded < MAX_DISCARD and (chunk := await reader.read(4096)):
                    discarded += len(chunk)
        writer.close()
        with contextlib.suppress(OSError, TimeoutError):
            async with asyncio.timeout(LINGER):
                await writer.wait_closed()

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self._connections) > self._max_connections:
            await _respond(writer, HTTPStatus.SERVICE_UNAVAILABLE)
            return
        try:
            method = await _read_head(reader)
        except BadRequest as refused:
            await _respond(writer, refused.status)
            return
        try:
            body = self._render()
        except Exception:
            log.exception("metrics: the exposition failed")
            await _respond(writer, HTTPStatus.INTERNAL_SERVER_ERROR)
            return
        await _respond(
            writer, HTTPStatus.OK, body, content_type=self._content_type, head=method == "HEAD"
        )


async def _read_head(reader: asyncio.StreamReader) -> str:
    """Read and check the request line and headers; returns the method. Headers are read only
    to find the end of the head (none changes the answer)."""
    line = await _read_line(reader)
    parts = line.split(" ")
    if len(parts) != 3 or not all(parts):
        raise BadRequest(HTTPStatus.BAD_REQUEST)
    method, target, version = parts
    if not version.startswith("HTTP/"):
        raise BadRequest(HTTPStatus.BAD_REQUEST)
    if version not in VERSIONS:
        raise BadRequest(HTTPStatus.HTTP_VERSION_NOT_SUPPORTED)
    total = len(line)
    for _ in range(MAX_HEADER_LINES):
        header = await _read_line(reader)
        if not header:
            break
        total += len(header)
        if total > MAX_HEAD_BYTES or ":" not in header:
            raise BadRequest(HTTPStatus.BAD_REQUEST)
    else:
        raise BadRequest(HTTPStatus.BAD_REQUEST)
    if method not in METHODS:
        raise BadRequest(HTTPStatus.METHOD_NOT_ALLOWED)
    if target.partition("?")[0] != PATH:
        raise BadRequest(HTTPStatus.NOT_FOUND)
    return method


async def _read_line(reader: asyncio.StreamReader) -> str:
    """One line of the head, without its CRLF (a bare LF is accepted, as most servers do)."""
    try:
        raw = await reader.readuntil(b"\n")
    except asyncio.LimitOverrunError:
        raise BadRequest(HTTPStatus.BAD_REQUEST) from None
    except asyncio.IncompleteReadError:
        raise BadRequest(HTTPStatus.BAD_REQUEST) from None
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        raise BadRequest(HTTPStatus.BAD_REQUEST) from None
    text = text.removesuffix("\n").removesuffix("\r")
    if any(ord(c) < 0x20 and c != "\t" for c in text) or "\x7f" in text:
        raise BadRequest(HTTPStatus.BAD_REQUEST)
    return text


async def _respond(
    writer: asyncio.StreamWriter,
    status: HTTPStatus,
    body: bytes | None = None,
    *,
    content_type: str = "text/plain; charset=utf-8",
    head: bool = False,
) -> None:
    if body is None:
        body = f"{status.value} {status.phrase}\n".encode()
    headers = [
        f"HTTP/1.1 {status.value} {status.phrase}",
        f"Content-Type: {content_type}",
        f"Content-Length: {len(body)}",
        "Connection: close",
    ]
    if status is HTTPStatus.METHOD_NOT_ALLOWED:
        headers.append("Allow: " + ", ".join(METHODS))
    writer.write(("\r\n".join(headers) + "\r\n\r\n").encode("ascii"))
    if not head:
        writer.write(body)
    await writer.drain()
