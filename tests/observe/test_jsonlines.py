"""``--events``: JSON lines to a file or standard output, and what happens when writing fails."""

from __future__ import annotations

import json
import logging
import os
import pathlib
import stat
import sys
from collections.abc import Iterator

import pytest

from pycarp.observe.facts import ControlRequest, DaemonStopping
from pycarp.observe.jsonlines import JsonLinesWriter
from pycarp.observe.stream import EventStream, Published

from .support import address_added, state_changed


@pytest.fixture
def stream() -> EventStream:
    ticks = iter(range(1000))
    return EventStream(monotonic=lambda: float(next(ticks)), wall=lambda: 1_700_000_000.25)


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


def lines(path: pathlib.Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_each_fact_is_one_compact_line_on_disk_at_once(
    tmp_path: pathlib.Path, stream: EventStream, umask_022: None
) -> None:
    path = tmp_path / "events.jsonl"
    published: list[Published] = []
    stream.subscribe(published.append)
    writer = JsonLinesWriter(str(path), stream)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640

    stream.publish(state_changed("BACKUP", "MASTER", "timer"))
    assert lines(path) == [published[0].as_json()]  # readable before any close or flush call
    stream.publish(address_added(12.5))
    text = path.read_text()
    assert text.endswith("\n")
    assert text.count("\n") == 2
    assert ", " not in text
    assert ": " not in text  # compact separators
    first, second = lines(path)
    assert first["event"] == "state_changed"
    assert first["cause"] == "timer"
    assert second == {**published[1].as_json()}
    writer.close()


def test_an_existing_file_is_appended_to_and_keeps_its_mode(
    tmp_path: pathlib.Path, stream: EventStream
) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text('{"event":"earlier"}\n')
    path.chmod(0o600)
    writer = JsonLinesWriter(str(path), stream)
    stream.publish(DaemonStopping(reason="TERM"))
    writer.close()
    assert [line["event"] for line in lines(path)] == ["earlier", "daemon_stopping"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_dash_writes_to_standard_output(
    stream: EventStream, capfd: pytest.CaptureFixture[str]
) -> None:
    writer = JsonLinesWriter("-", stream)
    stream.publish(DaemonStopping(reason="TERM"))
    writer.close()
    stream.publish(DaemonStopping(reason="after close"))
    out = capfd.readouterr().out
    assert [json.loads(line)["reason"] for line in out.splitlines()] == ["TERM"]
    os.fstat(sys.stdout.fileno())  # close() left standard output open


def test_a_value_json_cannot_hold_is_written_as_text(
    tmp_path: pathlib.Path, stream: EventStream
) -> None:
    path = tmp_path / "events.jsonl"
    writer = JsonLinesWriter(str(path), stream)
    odd = ControlRequest(uid=0, command="x", arguments={"raw": b"\x01"}, ok=False, message="")
    stream.publish(odd)
    writer.close()
    (line,) = lines(path)
    assert line["arguments"] == {"raw": "b'\\x01'"}


def test_a_full_disk_is_logged_once_and_the_writer_steps_aside(
    stream: EventStream, caplog: pytest.LogCaptureFixture
) -> None:
    others: list[str] = []
    writer = JsonLinesWriter("/dev/full", stream)  # every write fails with ENOSPC
    stream.subscribe(lambda p: others.append(p.fact.kind))
    with caplog.at_level(logging.ERROR, logger="pycarp"):
        stream.publish(DaemonStopping(reason="1"))
        stream.publish(DaemonStopping(reason="2"))
    assert not writer.active
    assert others == ["daemon_stopping", "daemon_stopping"]
    assert [r.getMessage() for r in caplog.records] == [
        "--events /dev/full: No space left on device: no more events are written there"
    ]
    writer.close()  # still safe after the error


def test_a_closed_stdout_pipe_is_logged_once_and_does_not_raise(
    stream: EventStream, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    read_end, write_end = os.pipe()
    with os.fdopen(write_end, "w") as pipe_stdout:
        monkeypatch.setattr(sys, "stdout", pipe_stdout)
        writer = JsonLinesWriter("-", stream)
        os.close(read_end)  # the reader (say, `| head -1`) is gone
        with caplog.at_level(logging.ERROR, logger="pycarp"):
            stream.publish(DaemonStopping(reason="1"))
            stream.publish(DaemonStopping(reason="2"))
        assert not writer.active
        (record,) = caplog.records
        assert record.getMessage() == (
            "--events standard output: Broken pipe: no more events are written there"
        )
        os.fstat(pipe_stdout.fileno())  # ours to close, not the writer's


def test_a_partial_write_is_completed(
    tmp_path: pathlib.Path, stream: EventStream, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "events.jsonl"
    writer = JsonLinesWriter(str(path), stream)
    real_write = os.write
    calls: list[int] = []

    def seven_bytes_at_a_time(fd: int, data: bytes | memoryview) -> int:
        calls.append(len(data))
        return real_write(fd, bytes(data[:7]))

    monkeypatch.setattr(os, "write", seven_bytes_at_a_time)
    stream.publish(state_changed("BACKUP", "MASTER", "timer"))
    writer.close()
    assert len(calls) > 10
    (line,) = lines(path)
    assert line["event"] == "state_changed"


def test_a_path_that_cannot_be_opened_fails_at_start(
    tmp_path: pathlib.Path, stream: EventStream
) -> None:
    with pytest.raises(FileNotFoundError):
        JsonLinesWriter(str(tmp_path / "missing" / "events.jsonl"), stream)


def test_close_stops_writing_and_closes_the_file(
    tmp_path: pathlib.Path, stream: EventStream
) -> None:
    path = tmp_path / "events.jsonl"
    before = len(os.listdir("/proc/self/fd"))
    writer = JsonLinesWriter(str(path), stream)
    assert len(os.listdir("/proc/self/fd")) == before + 1
    stream.publish(DaemonStopping(reason="1"))
    writer.close()
    writer.close()
    assert len(os.listdir("/proc/self/fd")) == before
    stream.publish(DaemonStopping(reason="2"))
    assert [line["reason"] for line in lines(path)] == ["1"]
