"""Maintenance mode across restarts: atomic saves, and an unreadable file means maintenance."""

from __future__ import annotations

import json
import os
import pathlib
import stat
import subprocess
import sys

import pytest

from pycarp.control.persist import PersistedState, PersistError, StateStore

from .support import as_user, public_directory


def test_missing_file_means_defaults(tmp_path: pathlib.Path) -> None:
    assert StateStore(tmp_path / "none", "pycarp").load() == PersistedState()


def test_save_then_load(tmp_path: pathlib.Path) -> None:
    store = StateStore(tmp_path / "state", "groups")
    saved = store.save(PersistedState(maintenance=True))
    loaded = store.load()
    assert loaded.maintenance is True
    assert loaded.warning is None
    assert loaded.saved_wall == saved.saved_wall
    document = json.loads((tmp_path / "state" / "groups.json").read_text())
    assert document["v"] == 1
    assert document["instance"] == "groups"
    assert document["maintenance"] is True
    assert stat.S_IMODE((tmp_path / "state").stat().st_mode) == 0o750
    store.save(PersistedState(maintenance=False))
    assert store.load().maintenance is False
    assert sorted(p.name for p in (tmp_path / "state").iterdir()) == ["groups.json"]


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"{not json", "not JSON"),
        (b"", "not JSON"),
        (b"[]", "not a JSON object"),
        (b'{"v": 2, "maintenance": false}', "format version 2, expected 1"),
        (b'{"v": true, "maintenance": false}', "format version True, expected 1"),
        (b'{"v": 1, "maintenance": "no"}', "'maintenance' is not true or false"),
        (b'{"v": 1, "maintenance": false, "saved_wall": "x"}', "'saved_wall' is not a number"),
        (b'{"v": 1, "maintenance": false, "pad": "' + b"x" * 70000 + b'"}', "larger than"),
    ],
)
def test_an_unusable_file_means_maintenance_with_a_warning(
    tmp_path: pathlib.Path, content: bytes, why: str
) -> None:
    (tmp_path / "pycarp.json").write_bytes(content)
    state = StateStore(tmp_path, "pycarp").load()
    assert state.maintenance is True
    assert state.warning is not None
    assert state.warning.startswith(f"state file {tmp_path / 'pycarp.json'} unreadable ({why}")
    assert state.warning.endswith("): starting in maintenance; `pycarp maintenance off` clears it")


def test_the_warning_names_the_instance_to_clear(tmp_path: pathlib.Path) -> None:
    (tmp_path / "groups.json").write_bytes(b"garbage")
    warning = StateStore(tmp_path, "groups").load().warning
    assert warning is not None
    assert warning.endswith("`pycarp maintenance off --control groups` clears it")


def test_a_directory_in_place_of_the_file_is_unreadable(tmp_path: pathlib.Path) -> None:
    (tmp_path / "pycarp.json").mkdir()
    state = StateStore(tmp_path, "pycarp").load()
    assert state.maintenance is True
    assert "Is a directory" in (state.warning or "")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to read as another uid via setpriv")
def test_a_file_we_may_not_read_means_maintenance() -> None:
    with public_directory() as directory:
        StateStore(directory, "pycarp").save(PersistedState(maintenance=False))
        os.chmod(directory / "pycarp.json", 0o600)
        code = (
            "import pathlib; from pycarp.control.persist import StateStore; "
            f"s = StateStore(pathlib.Path({str(directory)!r}), 'pycarp').load(); "
            "print(s.maintenance, s.warning)"
        )
        done = as_user(65534, 65534, code)
    assert done.stdout.startswith("True state file ")
    assert "(Permission denied)" in done.stdout


def fail_on(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(f"pycarp.control.persist.os.{name}", broken)


@pytest.mark.parametrize("step", ["fsync", "replace"])
def test_a_failed_save_keeps_the_old_file_and_leaves_nothing(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    store = StateStore(tmp_path, "pycarp")
    store.save(PersistedState(maintenance=True))
    before = (tmp_path / "pycarp.json").read_bytes()
    fail_on(monkeypatch, step)
    with pytest.raises(PersistError) as error:
        store.save(PersistedState(maintenance=False))
    assert str(error.value) == (
        f"cannot save state to {tmp_path / 'pycarp.json'}: No space left on device"
    )
    assert (tmp_path / "pycarp.json").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["pycarp.json"]


def test_a_directory_that_cannot_be_created_is_one_line(tmp_path: pathlib.Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(PersistError) as error:
        StateStore(tmp_path / "file" / "state", "pycarp").save(PersistedState())
    assert "\n" not in str(error.value)
    assert str(error.value).startswith("cannot save state to ")


def test_a_killed_writer_never_leaves_a_partial_file(tmp_path: pathlib.Path) -> None:
    """The new content appears whole or not at all: a reader between saves sees valid JSON."""

    code = (
        "import pathlib, sys; from pycarp.control.persist import PersistedState, StateStore\n"
        f"s = StateStore(pathlib.Path({str(tmp_path)!r}), 'pycarp')\n"
        "i = 0\n"
        "while True:\n"
        "    s.save(PersistedState(maintenance=bool(i % 2))); i += 1\n"
    )
    writer = subprocess.Popen([sys.executable, "-c", code])
    try:
        for _ in range(300):
            state = StateStore(tmp_path, "pycarp").load()
            assert state.warning is None
    finally:
        writer.kill()
        writer.wait()
    assert StateStore(tmp_path, "pycarp").load().warning is None
    # The kill may leave the temporary file of the save in flight: the next save removes it.
    StateStore(tmp_path, "pycarp").save(PersistedState(maintenance=True))
    assert [p.name for p in tmp_path.iterdir()] == ["pycarp.json"]


def test_a_save_removes_the_leftover_of_an_interrupted_one(tmp_path: pathlib.Path) -> None:
    (tmp_path / ".pycarp.json.abc123.tmp").write_text('{"v": 1, "maint')
    (tmp_path / ".other.json.abc123.tmp").write_text("not ours")
    StateStore(tmp_path, "pycarp").save(PersistedState(maintenance=True))
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.json.abc123.tmp", "pycarp.json"]
