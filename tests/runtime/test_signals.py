"""The ``pycarp run`` entry coroutine with a fake platform: signals, reload from the file, exit.

Real signals are sent to this process; the daemon installs its handlers on the running loop
(main thread) and removes them on exit, so the test runner's own handling is left as it was.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import pathlib
import signal

import pytest

import pycarp.platform.linux
from pycarp.cli import run as cli_run
from pycarp.config.toml import load_config

from .fakes import FakeHost, FakeSegment
from .support import SECRET, run, wait_until

A = "198.51.100.1"


def daemon_toml(tmp_path: pathlib.Path) -> str:
    """Socket and state in the test's directory: never the host's /run/pycarp, /var/lib."""
    return f"""
[daemon]
control = "{tmp_path / "control.sock"}"
state_dir = "{tmp_path / "state"}"
"""


def group_toml(vhid: int, address: str) -> str:
    return f"""
[[group]]
interface = "eth0"
source = "{A}"
vhid = {vhid}
passphrase = "{SECRET}"
addresses = ["{address}"]
dead_ratio = 1
"""


def test_hup_reloads_the_file_usr1_logs_status_term_bows_out(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="pycarp")
    path = tmp_path / "pycarp.toml"
    path.write_text(daemon_toml(tmp_path) + group_toml(1, "198.51.100.100/24"))
    host = FakeHost(A, {"eth0": FakeSegment()})
    own = ipaddress.ip_interface(f"{A}/24")
    host.addresses.add("eth0", own)  # a reload checks that each group's source is the host's
    monkeypatch.setattr(pycarp.platform.linux, "linux_platform", host.platform)
    segment = host.segments["eth0"]

    async def scenario() -> int:
        task = asyncio.create_task(cli_run._run(load_config(path)))
        try:
            await wait_until(lambda: host.addresses.addresses("eth0") != {own}, 2.5, "vhid 1 up")
            path.write_text(path.read_text() + group_toml(2, "198.51.100.200/24"))
            os.kill(os.getpid(), signal.SIGHUP)
            await wait_until(lambda: bool(segment.adverts(vhid=2)), 2.5, "vhid 2 advertises")
            os.kill(os.getpid(), signal.SIGUSR1)
            await wait_until(lambda: "2@eth0: MASTER (advbase 1" in caplog.text, 1, "status")
            assert "1@eth0: MASTER (advbase 1" in caplog.text
            os.kill(os.getpid(), signal.SIGTERM)
            return await asyncio.wait_for(task, 5)
        finally:
            task.cancel()
            host.close()

    assert run(scenario()) == 0
    assert host.addresses.addresses("eth0") == {own}
    for vhid in (1, 2):
        last = segment.adverts(vhid=vhid)[-1].advert
        assert (last.advbase, last.advskew) == (255, 255)
    assert "1 added, 0 changed, 0 removed, 1 untouched" in caplog.text
    assert SECRET not in caplog.text
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # handlers removed on exit


def test_an_os_refusal_at_start_is_one_log_line_and_exit_1(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "pycarp.toml"
    path.write_text(
        daemon_toml(tmp_path) + group_toml(1, "198.51.100.100/24").replace("eth0", "eth5")
    )
    host = FakeHost(A, {"eth0": FakeSegment()})  # no eth5 on this host
    monkeypatch.setattr(pycarp.platform.linux, "linux_platform", host.platform)
    try:
        assert run(cli_run._run(load_config(path))) == 1
    finally:
        host.close()
    fatal = [r for r in caplog.records if r.getMessage().startswith("fatal: ")]
    assert len(fatal) == 1
    assert "no such interface: eth5" in fatal[0].getMessage()
    assert fatal[0].exc_info is None
