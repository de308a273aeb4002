"""The client's failures, each one line saying what to do; replies returned as received."""

from __future__ import annotations

import contextlib
import pathlib
import socket
import threading
from collections.abc import Iterator

import pytest

from pycarp.control.client import ClientError, request


@contextlib.contextmanager
def answering(path: pathlib.Path, reply: bytes | None) -> Iterator[None]:
    """A fake daemon answering one connection with ``reply`` (None: never answers)."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(1)
    done = threading.Event()

    def serve() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.recv(65536)
            if reply is not None:
                connection.sendall(reply)
            else:
                done.wait(10)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join(10)
        listener.close()


def failure(path: pathlib.Path, timeout: float = 5) -> str:
    with pytest.raises(ClientError) as error:
        request(path, {"command": "status"}, timeout)
    message = str(error.value)
    assert "\n" not in message
    return message


def test_no_socket(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "c.sock"
    assert failure(path) == f"no pycarp daemon at {path} (is it running? --control)"


def test_stale_socket(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "c.sock"
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))
    stale.close()
    assert failure(path) == f"daemon gone: {path} is stale"


def test_a_daemon_that_never_answers(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "c.sock"
    with answering(path, None):
        assert failure(path, timeout=0.3) == f"no answer from {path} within 0.3 s"


@pytest.mark.parametrize(
    ("reply", "problem"),
    [
        (b"", "malformed reply from {}: the daemon closed without answering"),
        (b'{"v":1,"ok":true', "malformed reply from {}: no complete line"),
        (b"<html>\n", "malformed reply from {}: not JSON"),
        (b"[1]\n", "malformed reply from {}: not a JSON object"),
        (b'{"v":1,"ok":"yes","message":"x"}\n', "malformed reply from {}: no 'ok' and 'message'"),
        (
            b'{"v":1,"ok":false,"message":"x"}\n',
            "malformed reply from {}: a refusal without an error code",
        ),
        (
            b'{"v":2,"ok":true,"message":"x"}\n',
            "the daemon at {} speaks control protocol 2, this pycarp 1: "
            "use the pycarp that runs it",
        ),
    ],
)
def test_malformed_replies(tmp_path: pathlib.Path, reply: bytes, problem: str) -> None:
    path = tmp_path / "c.sock"
    with answering(path, reply):
        assert failure(path) == problem.format(path)


def test_a_refusal_is_returned_not_raised(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "c.sock"
    line = b'{"v":1,"ok":false,"error":"unknown_group","message":"no group 9@eth9"}\n'
    with answering(path, line):
        reply = request(path, {"command": "status"}, 5)
    assert reply == {"v": 1, "ok": False, "error": "unknown_group", "message": "no group 9@eth9"}


def test_a_regular_file_is_not_a_daemon(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "c.sock"
    path.write_text("")
    assert failure(path) == f"{path} is not a socket: give --control the daemon's socket"
