"""sd_notify against a real AF_UNIX datagram socket, as systemd listens (no root needed)."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import itertools
import os
import pathlib
import signal
import socket
import threading
import time
import uuid
from collections.abc import Iterator

import pytest

import pycarp.platform.linux
from pycarp.cli import run as cli_run
from pycarp.config.toml import load_config
from pycarp.runtime import systemd
from pycarp.runtime.systemd import Notifier, summarise

from .fakes import FakeHost, FakeSegment
from .support import SECRET, run, wait_until


class Listener:
    """systemd's side: every datagram received, with the monotonic time it arrived."""

    def __init__(self, address: str | bytes) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address)
        self.sock.settimeout(0.05)
        self.received: list[tuple[float, dict[str, str]]] = []
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._done.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            fields = dict(line.split("=", 1) for line in data.decode().split("\n"))
            self.received.append((time.monotonic(), fields))

    def close(self) -> None:
        self._done.set()
        self._thread.join()
        self.sock.close()

    def messages(self) -> list[dict[str, str]]:
        time.sleep(0.1)  # let the reader catch up
        return [fields for _, fields in self.received]

    def times_of(self, key: str) -> list[float]:
        return [at for at, fields in self.received if key in fields]


@pytest.fixture
def listener(tmp_path: pathlib.Path) -> Iterator[Listener]:
    path = tmp_path / "notify"
    listening = Listener(str(path))
    yield listening
    listening.close()


def env_for(listener: Listener, **extra: str) -> dict[str, str]:
    address = listener.sock.getsockname()
    name = address if isinstance(address, str) else "@" + address[1:].decode()
    return {"NOTIFY_SOCKET": name, **extra}


def test_without_notify_socket_nothing_is_sent_and_run_returns(listener: Listener) -> None:
    notifier = Notifier({})
    assert not notifier.enabled
    notifier.ready("1 group")
    notifier.stopping()
    asyncio.run(asyncio.wait_for(notifier.run(lambda: "x"), 1.0))  # returns, does not loop
    assert listener.messages() == []


def test_the_messages_systemd_reads(listener: Listener) -> None:
    notifier = Notifier(env_for(listener))
    notifier.ready("2 groups:\n 1 MASTER")  # a status is always one line
    notifier.reloading()
    notifier.stopping()
    notifier.stopping()  # once
    notifier.close()
    ready, reloading, stopping = listener.messages()
    assert ready == {"READY": "1", "STATUS": "2 groups: 1 MASTER"}
    assert reloading["RELOADING"] == "1"
    now_usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    assert 0 < now_usec - int(reloading["MONOTONIC_USEC"]) < 5_000_000
    assert stopping["STOPPING"] == "1"
    assert "stopping" in stopping["STATUS"]


def test_an_abstract_socket_name_starting_with_at() -> None:
    name = f"pycarp-test-{uuid.uuid4().hex}"
    listening = Listener(b"\0" + name.encode())
    try:
        notifier = Notifier({"NOTIFY_SOCKET": "@" + name})
        notifier.ready()
        notifier.close()
        assert listening.messages() == [{"READY": "1"}]
    finally:
        listening.close()


class LoopListener:
    """systemd's side read by the event loop itself: every datagram with the loop time it
    arrived, so on virtual time the watchdog's rhythm is seen exactly."""

    def __init__(self, path: pathlib.Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.setblocking(False)
        self.received: list[tuple[float, dict[str, str]]] = []

    def attach(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_reader(self.sock.fileno(), self._read, loop)

    def _read(self, loop: asyncio.AbstractEventLoop) -> None:
        with contextlib.suppress(BlockingIOError):
            while True:
                data = self.sock.recv(4096)
                fields = dict(line.split("=", 1) for line in data.decode().split("\n"))
                self.received.append((loop.time(), fields))

    def times_of(self, key: str) -> list[float]:
        return [at for at, fields in self.received if key in fields]


def test_watchdog_pings_every_half_interval_and_ready_when_started(tmp_path: pathlib.Path) -> None:
    """On virtual time: the pings' rhythm and READY's moment are exact."""
    listener = LoopListener(tmp_path / "notify")
    env = {"NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "200000"}
    notifier = Notifier({**env, "WATCHDOG_PID": str(os.getpid())})
    assert notifier.watchdog_interval == pytest.approx(0.2)

    async def scenario() -> float:
        listener.attach()
        began = asyncio.get_running_loop().time()
        started = asyncio.Event()
        task = asyncio.create_task(notifier.run(lambda: "1 group: 1 BACKUP", ready=started))
        await asyncio.sleep(0.25)
        started.set()
        await asyncio.sleep(0.52)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await asyncio.sleep(0.01)  # the last datagram is read
        return began

    began = run(scenario())
    listener.sock.close()
    pings = [at - began for at in listener.times_of("WATCHDOG")]
    # Every half WatchdogSec (0.1 s) until READY, which comes the moment the daemon started
    # (0.25 s) with a ping, then every 0.1 s again.
    assert pings == pytest.approx([0.0, 0.1, 0.2, 0.25, 0.35, 0.45, 0.55, 0.65, 0.75], abs=1e-9)
    assert [at - began for at in listener.times_of("READY")] == pytest.approx([0.25], abs=1e-9)
    statuses = [fields["STATUS"] for _, fields in listener.received if "STATUS" in fields]
    assert statuses == ["1 group: 1 BACKUP"]  # sent when it changes, not with every ping


def test_a_wedged_event_loop_stops_the_pings(listener: Listener) -> None:
    notifier = Notifier(env_for(listener, WATCHDOG_USEC="100000"))

    async def scenario() -> None:
        task = asyncio.create_task(notifier.run(lambda: "1 group: 1 MASTER"))
        await asyncio.sleep(0.2)
        time.sleep(0.6)  # noqa: ASYNC251 - the loop is stuck: no timer, no advert, no ping
        await asyncio.sleep(0.2)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    listener.messages()
    pings = listener.times_of("WATCHDOG")
    gaps = [b - a for a, b in itertools.pairwise(pings)]
    assert max(gaps) >= 0.55, gaps
    assert sorted(gaps)[-2] < 0.3, gaps  # only that one gap


def test_status_follows_the_summary_and_a_watchdog_for_another_pid_is_not_ours(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(systemd, "STATUS_PERIOD", 0.05)
    listener = LoopListener(tmp_path / "notify")
    env = {"NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "100000"}
    notifier = Notifier({**env, "WATCHDOG_PID": "1"})
    assert notifier.watchdog_interval is None
    states = iter(["2 groups: 2 INIT"] * 2 + ["2 groups: 1 MASTER, 1 BACKUP"] * 100)

    async def scenario() -> None:
        listener.attach()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(notifier.run(lambda: next(states)), 0.4)
        await asyncio.sleep(0.01)  # the last datagram is read

    run(scenario())
    listener.sock.close()
    messages = [fields for _, fields in listener.received]
    assert [m.get("STATUS") for m in messages] == [
        "2 groups: 2 INIT",
        "2 groups: 1 MASTER, 1 BACKUP",
    ]
    assert not any("WATCHDOG" in m for m in messages)


def test_systemd_gone_is_one_warning_not_an_exception(
    tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    notifier = Notifier({"NOTIFY_SOCKET": str(tmp_path / "nobody-listens")})
    notifier.ready()
    notifier.send("WATCHDOG=1")
    assert caplog.text.count("cannot notify systemd") == 1


@pytest.mark.parametrize(
    ("states", "expected"),
    [
        (["MASTER", "BACKUP", "MASTER"], "3 groups: 2 MASTER, 1 BACKUP"),
        (["INIT"], "1 group: 1 INIT"),
        (["BACKUP", "INIT", "MASTER"], "3 groups: 1 MASTER, 1 BACKUP, 1 INIT"),
        ([], "0 groups"),
    ],
)
def test_summary(states: list[str], expected: str) -> None:
    assert summarise(states) == expected


def test_pycarp_run_tells_systemd_ready_status_reload_and_stop(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The daemon's entry coroutine on a fake platform, with real signals (as test_signals)."""
    listener = LoopListener(tmp_path / "notify")
    path = tmp_path / "web.toml"
    path.write_text(  # no control socket, no saved state: nothing shared with other tests
        '[daemon]\ncontrol = "off"\nstate_dir = "off"\n'
        '[[group]]\ninterface = "eth0"\nsource = "198.51.100.1"\nvhid = 1\n'
        f'passphrase = "{SECRET}"\naddresses = ["198.51.100.100/24"]\ndead_ratio = 1\n'
    )
    host = FakeHost("198.51.100.1", {"eth0": FakeSegment()})
    host.addresses.add("eth0", ipaddress.ip_interface("198.51.100.1/24"))
    monkeypatch.setattr(pycarp.platform.linux, "linux_platform", host.platform)
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify"))
    monkeypatch.setenv("WATCHDOG_USEC", "200000")

    def said(key: str, value: str | None = None) -> bool:
        return any(key in m and value in (None, m[key]) for _, m in list(listener.received))

    async def scenario() -> int:
        listener.attach()
        task = asyncio.create_task(cli_run._run(load_config(path)))
        try:
            await wait_until(lambda: said("READY"), 2.5, "READY=1")
            await wait_until(lambda: said("STATUS", "1 group: 1 MASTER"), 2.5, "master status")
            os.kill(os.getpid(), signal.SIGHUP)
            await wait_until(lambda: said("RELOADING"), 2.5, "RELOADING=1")
            await wait_until(lambda: len(listener.times_of("READY")) == 2, 2.5, "READY again")
            os.kill(os.getpid(), signal.SIGTERM)
            code = await asyncio.wait_for(task, 5)
            await asyncio.sleep(0.01)  # the last datagram is read
            return code
        finally:
            task.cancel()
            host.close()

    assert run(scenario()) == 0
    listener.sock.close()
    messages = [fields for _, fields in listener.received]
    first_ready = next(m for m in messages if "READY" in m)
    assert first_ready["STATUS"].startswith("1 group: 1 ")  # BACKUP or already MASTER
    assert messages[-1]["STOPPING"] == "1"
    assert len(listener.times_of("WATCHDOG")) >= 5
    reloading = listener.times_of("RELOADING")[0]
    assert listener.times_of("READY")[1] >= reloading
