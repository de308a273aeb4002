"""Maintenance mode survives a restart: one small JSON file per daemon instance.

An operator puts a node in maintenance to keep it from taking the addresses while they work on
it; a reboot in the middle of that work must not quietly end it. So the file is written
atomically (a crash leaves the old file or the new one, never half of one), and a file that
cannot be read is taken to mean maintenance ON: a node that wrongly stays back is one command
away from serving, while a node that wrongly grabs the addresses interrupts everyone.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import pathlib
import tempfile
import time

FORMAT_VERSION = 1
DIRECTORY_MODE = 0o750
FILE_MODE = 0o640
MAX_FILE = 64 * 1024


class PersistError(Exception):
    """The state could not be saved; the message is one line (the old file is unchanged)."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class PersistedState:
    """What a daemon keeps across restarts.

    ``saved_wall``: when it was saved (unix time), None for defaults. ``warning``: set when the
    file was there but unusable, for the daemon to log once; it is never saved.
    """

    maintenance: bool = False
    saved_wall: float | None = None
    warning: str | None = None


class StateStore:
    """``<directory>/<instance>.json``; the directory is created (0750) on the first save."""

    def __init__(self, directory: pathlib.Path, instance: str) -> None:
        self.directory = directory
        self.path = directory / f"{instance}.json"
        self.instance = instance

    def load(self) -> PersistedState:
        """The saved state; defaults if never saved; maintenance on if the file is unusable."""
        try:
            with self.path.open("rb") as file:
                raw = file.read(MAX_FILE + 1)
        except FileNotFoundError:
            return PersistedState()
        except OSError as error:
            return self._unusable(error.strerror or str(error))
        if len(raw) > MAX_FILE:
            return self._unusable(f"larger than {MAX_FILE} bytes")
        try:
            document = json.loads(raw)
        except ValueError:
            return self._unusable("not JSON")
        if not isinstance(document, dict):
            return self._unusable("not a JSON object")
        if document.get("v") != FORMAT_VERSION or isinstance(document.get("v"), bool):
            return self._unusable(f"format version {document.get('v')!r}, expected 1")
        maintenance = document.get("maintenance")
        saved = document.get("saved_wall")
        if not isinstance(maintenance, bool):
            return self._unusable("'maintenance' is not true or false")
        if saved is not None and (not isinstance(saved, int | float) or isinstance(saved, bool)):
            return self._unusable("'saved_wall' is not a number")
        return PersistedState(
            maintenance=maintenance, saved_wall=None if saved is None else float(saved)
        )

    def save(self, state: PersistedState) -> PersistedState:
        """Write ``state`` atomically and durably; returns it as saved (with ``saved_wall``)."""
        saved = PersistedState(maintenance=state.maintenance, saved_wall=time.time())
        document = {
            "v": FORMAT_VERSION,
            "instance": self.instance,
            "maintenance": saved.maintenance,
            "saved_wall": saved.saved_wall,
        }
        data = (json.dumps(document, indent=2) + "\n").encode()
        temporary: str | None = None
        try:
            self._make_directory()
            self._remove_leftovers()
            descriptor, temporary = tempfile.mkstemp(
                dir=self.directory, prefix=f".{self.path.name}.", suffix=".tmp"
            )
            with os.fdopen(descriptor, "wb") as file:
                os.fchmod(file.fileno(), FILE_MODE)
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, self.path)
            temporary = None
            _fsync_directory(self.directory)
        except OSError as error:
            raise PersistError(
                f"cannot save state to {self.path}: {error.strerror or error}"
            ) from None
        finally:
            if temporary is not None:
                with contextlib.suppress(OSError):
                    os.unlink(temporary)
        return saved

    def _make_directory(self) -> None:
        if self.directory.is_dir():
            return
        self.directory.mkdir(parents=True, mode=DIRECTORY_MODE)
        os.chmod(self.directory, DIRECTORY_MODE)  # mkdir's mode is masked by the umask

    def _remove_leftovers(self) -> None:
        """Temporary files of a save that a crash interrupted (one writer: the daemon)."""
        for leftover in self.directory.glob(f".{self.path.name}.*.tmp"):
            with contextlib.suppress(OSError):
                leftover.unlink()

    def _unusable(self, why: str) -> PersistedState:
        command = "pycarp maintenance off"
        if self.instance != "pycarp":
            command += f" --control {self.instance}"
        return PersistedState(
            maintenance=True,
            warning=f"state file {self.path} unreadable ({why}): starting in maintenance; "
            f"`{command}` clears it",
        )


def _fsync_directory(directory: pathlib.Path) -> None:
    """The rename is durable only once the directory is on disk too."""
    descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
