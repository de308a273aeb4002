"""The /metrics HTTP server, over real sockets on the test process's loopback, port 0."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest
from prometheus_client import CONTENT_TYPE_LATEST

from pycarp.observe.http import MAX_HEAD_BYTES, ExpositionServer
from pycarp.observe.metrics import Metrics
from pycarp.observe.stream import EventStream

from .support import FakeDaemon, group_status, parse, state_changed, value

T = TypeVar("T")
Response = tuple[int, dict[str, str], bytes]


def run(scenario: Callable[[], Awaitable[T]], timeout: float = 10.0) -> T:
    async def bounded() -> T:
        async with asyncio.timeout(timeout):
            return await scenario()

    return asyncio.run(bounded())


async def exchange(address: tuple[str, int], request: bytes) -> Response:
    """Send ``request`` raw, read until the server closes, split the answer."""
    reader, writer = await asyncio.open_connection(*address)
    writer.write(request)
    await writer.drain()
    raw = await reader.read()
    writer.close()
    await writer.wait_closed()
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("ascii").split("\r\n")
    version, code, _ = status_line.split(" ", 2)
    assert version == "HTTP/1.1"
    headers = {}
    for line in header_lines:
        name, _, field = line.partition(": ")
        headers[name.lower()] = field
    return int(code), headers, body


def get(path: str = "/metrics", method: str = "GET") -> bytes:
    return f"{method} {path} HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n".encode()


async def serving(
    metrics: Metrics, *, client_timeout: float = 5.0, max_connections: int = 16
) -> ExpositionServer:
    server = ExpositionServer(
        metrics.render, timeout=client_timeout, max_connections=max_connections
    )
    await server.start("127.0.0.1", 0)
    return server


def make_metrics() -> tuple[FakeDaemon, EventStream, Metrics]:
    daemon = FakeDaemon(group_status())
    stream = EventStream()
    return daemon, stream, Metrics(daemon.status, stream)


def test_get_metrics_returns_the_exposition_that_follows_the_daemon() -> None:
    daemon, stream, metrics = make_metrics()

    async def scenario() -> tuple[Response, Response]:
        server = await metrics.serve("127.0.0.1", 0)
        try:
            (address,) = server.addresses
            assert address[0] == "127.0.0.1"
            assert address[1] > 0
            first = await exchange(address, get())
            stream.publish(state_changed("BACKUP", "MASTER", "timer"))
            daemon.group(1)["state"] = "MASTER"
            second = await exchange(address, get("/metrics?name[]=pycarp_group_is_master"))
            return first, second
        finally:
            await server.close()

    (code1, headers1, body1), (code2, _, body2) = run(scenario)
    assert (code1, code2) == (200, 200)
    assert headers1["content-type"] == CONTENT_TYPE_LATEST
    assert headers1["content-length"] == str(len(body1))
    assert headers1["connection"] == "close"
    g = {"interface": "eth0", "vhid": "1"}
    assert value(parse(body1.decode()), "pycarp_group_is_master", **g) == 0
    assert value(parse(body2.decode()), "pycarp_group_is_master", **g) == 1


@pytest.mark.parametrize(
    ("request_bytes", "code"),
    [
        (get("/"), 404),
        (get("/metricsx"), 404),
        (get("/metrics", method="POST"), 405),
        (get("/metrics", method="DELETE"), 405),
        (b"GET /metrics HTTP/2.0\r\n\r\n", 505),
        (b"GET /metrics\r\n\r\n", 400),  # HTTP/0.9 style
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\n\n", 400),  # a TLS hello
        (b"GET /m\xc3\xa9trics HTTP/1.1\r\n\r\n", 400),  # not ASCII
        (b"GET  /metrics HTTP/1.1\r\n\r\n", 400),  # two spaces
        (b"GET /metrics HTTP/1.1\r\nno colon here\r\n\r\n", 400),
        (b"GET /metrics HTTP/1.1\r\nX: \x00\r\n\r\n", 400),  # a control character
        (b"GET /metrics HTTP/1.1\r\nHost: x\r\n", 400),  # closed before the end of the head
        (b"", 400),  # connected and closed without a word
        (b"GET /metrics HTTP/1.1\r\n" + b"X: y\r\n" * 100 + b"\r\n", 400),  # too many headers
        (b"GET /" + b"a" * MAX_HEAD_BYTES + b" HTTP/1.1\r\n\r\n", 400),  # too long a line
    ],
)
def test_what_is_not_a_plain_get_of_metrics_is_refused(request_bytes: bytes, code: int) -> None:
    daemon, _, metrics = make_metrics()

    async def scenario() -> tuple[Response, Response]:
        server = await serving(metrics)
        try:
            (address,) = server.addresses
            refused = await exchange_half_closed(address, request_bytes)
            after = await exchange(address, get())  # the server is still fine
            return refused, after
        finally:
            await server.close()

    (got, headers, body), (after, _, _) = run(scenario)
    assert got == code
    assert body.startswith(f"{code} ".encode())  # a short text, no metrics
    assert b"pycarp_" not in body
    if code == 405:
        assert headers["allow"] == "GET, HEAD"
    assert after == 200
    assert daemon.reads == 1  # only the good request rendered


async def exchange_half_closed(address: tuple[str, int], request: bytes) -> Response:
    """Like :func:`exchange`, but signals end-of-request, as a client that gives up does."""
    reader, writer = await asyncio.open_connection(*address)
    writer.write(request)
    writer.write_eof()
    raw = await reader.read()
    writer.close()
    await writer.wait_closed()
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("ascii").split("\r\n")
    headers = {n.lower(): f for n, _, f in (line.partition(": ") for line in header_lines)}
    return int(status_line.split(" ")[1]), headers, body


def test_head_answers_without_a_body_and_a_bare_lf_request_works() -> None:
    _, _, metrics = make_metrics()

    async def scenario() -> tuple[bytes, Response]:
        server = await serving(metrics)
        try:
            (address,) = server.addresses
            reader, writer = await asyncio.open_connection(*address)
            writer.write(get(method="HEAD"))
            raw = await reader.read()
            writer.close()
            lf = await exchange_lf(address)
            return raw, lf
        finally:
            await server.close()

    raw, (code, _, body) = run(scenario)
    head, _, body_of_head = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert body_of_head == b""
    assert int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0]) > 0
    assert code == 200
    assert b"pycarp_group_is_master" in body


async def exchange_lf(address: tuple[str, int]) -> Response:
    reader, writer = await asyncio.open_connection(*address)
    writer.write(b"GET /metrics HTTP/1.0\n\n")
    raw = await reader.read()
    writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), {}, body


def test_a_silent_client_is_cut_off_after_the_timeout() -> None:
    _, _, metrics = make_metrics()

    async def scenario() -> tuple[bytes, float, int]:
        server = await serving(metrics, client_timeout=0.2)
        try:
            (address,) = server.addresses
            reader, writer = await asyncio.open_connection(*address)
            writer.write(b"GET /metrics HTTP/1.1\r\n")  # and nothing more
            loop = asyncio.get_running_loop()
            started = loop.time()
            raw = await reader.read()
            waited = loop.time() - started
            writer.close()
            code, _, _ = await exchange(address, get())
            return raw, waited, code
        finally:
            await server.close()

    raw, waited, code = run(scenario)
    assert raw == b""  # closed, no answer
    assert 0.1 < waited < 2.0
    assert code == 200


def test_concurrent_scrapes_each_get_a_whole_exposition() -> None:
    daemon, _, metrics = make_metrics()
    clients = 20

    async def scenario() -> list[Response]:
        server = await serving(metrics, max_connections=clients)
        try:
            (address,) = server.addresses
            return await asyncio.gather(*(exchange(address, get()) for _ in range(clients)))
        finally:
            await server.close()

    responses = run(scenario)
    assert [code for code, _, _ in responses] == [200] * clients
    bodies = {body for _, _, body in responses}
    for body in bodies:
        assert body.endswith(b"\n")
        assert (
            value(parse(body.decode()), "pycarp_group_is_master", interface="eth0", vhid="1") == 0
        )
    assert daemon.reads == clients


def test_connections_beyond_the_limit_get_503_and_close_ends_open_ones() -> None:
    _, _, metrics = make_metrics()

    async def scenario() -> tuple[Response, bytes]:
        server = await serving(metrics, max_connections=1, client_timeout=30.0)
        (address,) = server.addresses
        idle_reader, idle_writer = await asyncio.open_connection(*address)
        idle_writer.write(b"GET /metrics HTTP/1.1\r\n")  # holds the only slot
        await idle_writer.drain()
        await asyncio.sleep(0.05)
        try:
            refused = await exchange(address, get())
        finally:
            await server.close()
        leftover = await idle_reader.read()  # close() ended the idle connection
        idle_writer.close()
        return refused, leftover

    (code, _, _), leftover = run(scenario, timeout=5.0)
    assert code == 503
    assert leftover == b""


def test_a_failing_exposition_is_a_500_and_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    daemon, _, metrics = make_metrics()
    daemon.doc["v"] = 7

    async def scenario() -> Response:
        server = await serving(metrics)
        try:
            (address,) = server.addresses
            return await exchange(address, get())
        finally:
            await server.close()

    with caplog.at_level(logging.ERROR, logger="pycarp"):
        code, _, body = run(scenario)
    assert code == 500
    assert b"pycarp_" not in body
    assert "metrics: the exposition failed" in caplog.text
    assert "version 7" in caplog.text


def _loopback6() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _loopback6(), reason="no IPv6 loopback (::1) in this environment")
def test_ipv6_loopback() -> None:
    _, _, metrics = make_metrics()

    async def scenario() -> tuple[list[tuple[str, int]], Response]:
        server = await metrics.serve("::1", 0)
        try:
            addresses = server.addresses
            return addresses, await exchange(addresses[0], get())
        finally:
            await server.close()

    addresses, (code, _, _) = run(scenario)
    assert [host for host, _ in addresses] == ["::1"]
    assert code == 200
