"""Hooks get neither the daemon's secrets nor its privileges.

The hooks are real shell scripts that copy their own ``/proc/$$/environ`` and the ``Cap*``
lines of ``/proc/$$/status`` to files, so the tests see what an operator's script would see.
The privilege tests need root (they check that root's capabilities are really gone); the
secret tests run as any user.

On the wall clock (``run_on_wall_clock``): the hooks are real processes, whose time the
virtual clock of the other runtime tests cannot see.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import pathlib
import subprocess
import sys
import tempfile

import pytest

from pycarp.config.build import PASS_ENV, RawGroup, build_group
from pycarp.core.table import State
from pycarp.runtime import hooks
from pycarp.runtime.hooks import CAP_NET_ADMIN, CAP_NET_RAW, Capabilities, drop_privileges

from .fakes import FakeHost, FakeSegment
from .support import Node, run_on_wall_clock, running, stop, wait_until

SOURCE = "198.51.100.1"
FROM_PYCARP_PASS = "env-s3cret-one"  # test data: must reach no hook
FROM_PASS_ENV = "env-s3cret-two"
ADDRESS_CAPS = (1 << CAP_NET_ADMIN) | (1 << CAP_NET_RAW)

needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="needs root: checks that root's capabilities are dropped"
)


@dataclasses.dataclass(frozen=True)
class HookView:
    """What one hook run saw: its environment and its capability sets."""

    name: str
    env: dict[str, str]
    caps: dict[str, int]


def dumping_script(folder: pathlib.Path, name: str) -> str:
    """A hook that saves its environment and capabilities, one pair of files per run."""
    path = folder / name
    path.write_text(
        "#!/bin/sh\n"
        f"cat /proc/$$/environ > '{folder}/{name}.env.'$$\n"
        f"grep '^Cap' /proc/$$/status > '{folder}/{name}.caps.'$$\n"
        f": > '{folder}/{name}.done.'$$\n"
    )
    path.chmod(0o755)
    return str(path)


def views(folder: pathlib.Path) -> list[HookView]:
    found = []
    for done in sorted(folder.glob("*.done.*")):
        name, _, pid = done.name.partition(".done.")
        env_file = folder / f"{name}.env.{pid}"
        caps_file = folder / f"{name}.caps.{pid}"
        entries = [e for e in env_file.read_bytes().split(b"\0") if e]
        env = dict(os.fsdecode(e).partition("=")[::2] for e in entries)
        caps = {}
        for line in caps_file.read_text().splitlines():
            key, _, value = line.partition(":")
            caps[key] = int(value.strip(), 16)
        found.append(HookView(name, env, caps))
    return found


def run_hooks(folder: pathlib.Path, groups: list[RawGroup], *, hooks_wanted: int) -> None:
    """Run a daemon with ``groups`` on one fake host until ``hooks_wanted`` hooks have run."""
    host = FakeHost(SOURCE, {"eth0": FakeSegment()})
    node = Node(host, [build_group(raw, lambda field: field) for raw in groups])

    async def scenario() -> None:
        async with running(node):
            await wait_until(lambda: node.state() is State.MASTER, 3, "master")
            await wait_until(lambda: len(views(folder)) >= hooks_wanted, 3, "hooks ran")
            assert await stop(node) == 0

    run_on_wall_clock(scenario())


def raw_group(vhid: int, address: str, **extra: object) -> RawGroup:
    return RawGroup(
        interface="eth0",
        source=SOURCE,
        vhid=vhid,
        addresses=[address],
        dead_ratio=1,
        **extra,  # type: ignore[arg-type]
    )


# -- secrets -------------------------------------------------------------------------------


def test_no_hook_sees_a_passphrase_from_the_environment(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASS_ENV, FROM_PYCARP_PASS)
    monkeypatch.setenv("MY_CARP_SECRET", FROM_PASS_ENV)
    monkeypatch.setenv("COPY_OF_THE_SECRET", FROM_PYCARP_PASS)  # exported twice by the operator
    monkeypatch.setenv("PYCARP_TEST_ORDINARY", "still-here")
    notify = dumping_script(tmp_path, "notify")
    up = dumping_script(tmp_path, "up")
    groups = [
        # vhid 1: PYCARP_PASS (no passphrase option at all), native addresses, a notify hook.
        raw_group(1, "198.51.100.100/24", notify=notify),
        # vhid 2: a TOML-style pass_env, ucarp-style up/down scripts.
        raw_group(
            2,
            "198.51.100.101/24",
            pass_env="MY_CARP_SECRET",
            upscript=up,
            downscript=dumping_script(tmp_path, "down"),
        ),
    ]
    # notify: BACKUP, MASTER; down at start-up; up on becoming master.
    run_hooks(tmp_path, groups, hooks_wanted=4)

    seen = views(tmp_path)
    assert {v.name for v in seen} == {"notify", "up", "down"}
    for view in seen:
        for secret in (FROM_PYCARP_PASS, FROM_PASS_ENV):
            assert not any(secret in value for value in view.env.values()), view.name
        assert PASS_ENV not in view.env
        assert "MY_CARP_SECRET" not in view.env
        assert "COPY_OF_THE_SECRET" not in view.env
        assert view.env["PYCARP_TEST_ORDINARY"] == "still-here"  # the rest is passed on
        assert view.env["PYCARP_INTERFACE"] == "eth0"
    # The daemon itself keeps them: a SIGHUP reload reads them again.
    assert os.environ[PASS_ENV] == FROM_PYCARP_PASS
    assert os.environ["MY_CARP_SECRET"] == FROM_PASS_ENV


def test_the_hook_environment_is_the_daemons_minus_every_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(PASS_ENV, "a")
    monkeypatch.setenv("GROUP_TWO", "b")
    monkeypatch.setenv("UNRELATED", "c")
    env = hooks.hook_environment({"PYCARP_VHID": "2"}, [b"b"])
    assert PASS_ENV not in env  # always, even when no group took its passphrase from it
    assert "GROUP_TWO" not in env
    assert env["UNRELATED"] == "c"
    assert env["PYCARP_VHID"] == "2"


# -- privileges ----------------------------------------------------------------------------


@needs_root
@pytest.mark.parametrize("mode", ["native", "scripts"])
def test_hooks_run_without_root_capabilities(tmp_path: pathlib.Path, mode: str) -> None:
    """Native: pycarp moves the addresses, a hook needs nothing. Scripts (ucarp): the scripts
    run ``ip addr`` and arping, so NET_ADMIN and NET_RAW, and nothing else."""
    extra = {
        "passphrase": "pw",
        "address_mode": mode,
        "notify": dumping_script(tmp_path, "notify"),
        "upscript": dumping_script(tmp_path, "up"),
        "downscript": dumping_script(tmp_path, "down"),
    }
    run_hooks(tmp_path, [raw_group(1, "198.51.100.100/24", **extra)], hooks_wanted=4)

    expected = 0 if mode == "native" else ADDRESS_CAPS
    seen = views(tmp_path)
    assert {v.name for v in seen} == {"notify", "up", "down"}
    for view in seen:
        caps = view.caps
        assert (caps["CapEff"], caps["CapPrm"], caps["CapBnd"]) == (expected,) * 3, view
        assert caps["CapAmb"] & ~expected == 0
        assert caps["CapInh"] & ~expected == 0


UNPRIVILEGED_DAEMON = """
import asyncio, sys
from pycarp.runtime.hooks import HookStats, hook_capabilities, run_script
native = sys.argv[2] == "native"
stats = HookStats()
asyncio.run(run_script([sys.argv[1]], env={}, time_limit=10, label="t", stats=stats,
                       capabilities=hook_capabilities(native)))
sys.exit(stats.failures)
"""


def _nobody_can_run_pycarp() -> None:
    """Skip, saying why, where user nobody cannot even start this interpreter: a checkout or
    a chroot that other users cannot enter (fresh-check's root directory is mode 0700)."""
    probe = subprocess.run(
        [
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--",
            sys.executable,
            "-c",
            "import pycarp.runtime.hooks",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if probe.returncode != 0:
        reason = (probe.stderr.strip().splitlines() or ["no output"])[-1]
        pytest.skip(f"user nobody cannot run {sys.executable} with pycarp here: {reason}")


@needs_root
@pytest.mark.parametrize("mode", ["native", "scripts"])
def test_an_unprivileged_daemon_passes_on_at_most_net_admin_and_net_raw(mode: str) -> None:
    """The daemon as a plain user with ambient NET_RAW + NET_ADMIN (no CAP_SETPCAP, so it
    cannot touch the bounding set): its hooks get nothing, or exactly those two."""
    _nobody_can_run_pycarp()
    with tempfile.TemporaryDirectory() as name:
        folder = pathlib.Path(name)
        folder.chmod(0o777)
        script = dumping_script(folder, "hook")
        daemon = [
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all,+net_admin,+net_raw",
            "--ambient-caps=-all,+net_admin,+net_raw",
            "--",
            sys.executable,
            "-c",
            UNPRIVILEGED_DAEMON,
            script,
            mode,
        ]
        done = subprocess.run(daemon, capture_output=True, text=True, timeout=30, check=False)
        assert done.returncode == 0, done.stderr
        [view] = views(folder)
    expected = 0 if mode == "native" else ADDRESS_CAPS
    assert (view.caps["CapEff"], view.caps["CapPrm"], view.caps["CapAmb"]) == (expected,) * 3


def fake_caps(
    monkeypatch: pytest.MonkeyPatch, *, root: bool, permitted: int, effective: int | None = None
) -> None:
    caps = Capabilities(
        inheritable=0,
        permitted=permitted,
        effective=permitted if effective is None else effective,
        bounding=(1 << 41) - 1,
        ambient=0 if root else permitted,
    )
    monkeypatch.setattr(Capabilities, "of_this_process", classmethod(lambda cls: caps))
    monkeypatch.setattr(hooks, "_is_root", lambda: root)


def test_the_wrapper_clears_what_this_process_may_clear(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    argv = ["/etc/pycarp/up", "eth0", "198.51.100.100"]
    everything = (1 << 41) - 1
    # Root with CAP_SETPCAP: the bounding set too (exec as root grants it).
    fake_caps(monkeypatch, root=True, permitted=everything)
    wrapped = drop_privileges(argv, hooks.ADDRESS_CAPABILITIES)
    assert wrapped[1:] == [
        "--inh-caps=-all,+net_admin,+net_raw",
        "--ambient-caps=-all,+net_admin,+net_raw",
        "--bounding-set=-all,+net_admin,+net_raw",
        "--",
        *argv,
    ]
    assert wrapped[0].endswith("/setpriv")
    # A plain user with ambient NET_RAW only: no bounding set (no CAP_SETPCAP), and it can
    # only pass on what it has.
    fake_caps(monkeypatch, root=False, permitted=1 << CAP_NET_RAW)
    assert drop_privileges(argv, hooks.ADDRESS_CAPABILITIES)[1:4] == [
        "--inh-caps=-all,+net_raw",
        "--ambient-caps=-all,+net_raw",
        "--",
    ]
    # A plain user without any capability: nothing to drop, nothing wrapped.
    fake_caps(monkeypatch, root=False, permitted=0)
    assert drop_privileges(argv, ()) == argv
    # Root without CAP_SETPCAP: what can be cleared is, and a warning says what cannot.
    caplog.set_level(logging.WARNING, logger="pycarp.hooks")
    fake_caps(monkeypatch, root=True, permitted=everything, effective=everything & ~(1 << 8))
    assert "--bounding-set" not in " ".join(drop_privileges(argv, ()))
    assert "without CAP_SETPCAP" in caplog.text


def test_without_setpriv_a_hook_does_not_run_with_root_privileges(
    monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake_caps(monkeypatch, root=True, permitted=(1 << 41) - 1)
    monkeypatch.setattr(hooks, "_setpriv", lambda: None)
    assert hooks.privilege_problem() is not None
    script = dumping_script(tmp_path, "hook")
    stats = hooks.HookStats()
    status = asyncio.run(
        hooks.run_script([script], env={}, time_limit=5, label="1@eth0 up", stats=stats)
    )
    assert (status, stats.failures) == (None, 1)
    assert views(tmp_path) == []
    assert "setpriv (util-linux) not found" in caplog.text


def test_a_missing_script_is_one_line_not_a_wrapper_error(
    tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    stats = hooks.HookStats()
    missing = str(tmp_path / "no-such-script")
    status = asyncio.run(
        hooks.run_script([missing], env={}, time_limit=5, label="1@eth0 up", stats=stats)
    )
    assert (status, stats.failures) == (None, 1)
    assert f"cannot run {missing}: not found or not executable" in caplog.text
