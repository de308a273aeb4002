"""The programs the lab, the demo, the tests and the benchmarks run, and where they come from.

``scripts/setup.sh`` installs every one of them (its ``prog:package`` pairs are the same as
:data:`PACKAGES`; ``tests/test_external_programs.py`` checks both against the source).

A missing program is an error that names it and its Debian package, raised before anything
runs. Without this check it would not even be an exception: ``ip netns exec NS prog`` only
exits with a status and "exec of prog failed" on stderr, and a helper that reads the status or
the output as an answer ("no reply", "no MAC in the output") turns a broken machine into a
plausible but wrong result.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import typing

from pycarp.lab.naming import LabError

# program -> Debian package. Keep in step with the pairs in scripts/setup.sh.
PACKAGES: dict[str, str] = {
    # Thomas Habets' arping: the tests read its "60 bytes from MAC (IP)" lines and need it to
    # report every answer (duplicates). iputils-arping is another program with the same name.
    "arping": "arping",
    # The lab's health-track check (lab/services.py): a GET of the host's own page.
    "curl": "curl",
    "ip": "iproute2",
    "keepalived": "keepalived",
    "nft": "nftables",
    "ping": "iputils-ping",
    # The daemon itself: hooks are started through setpriv to drop capabilities.
    "setpriv": "util-linux",
    # tests/test_systemd_units.py verifies contrib/systemd (minimal Debian images lack systemd).
    "systemd-analyze": "systemd",
    "taskset": "util-linux",
    "tcpdump": "tcpdump",
    "tshark": "tshark",
    "ucarp": "ucarp",
}

# Where Debian puts programs; root's PATH has all of it, a user's often lacks the sbin ones.
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class MissingProgram(LabError):
    """A program the lab was asked to run is not installed (or not on PATH)."""

    def __init__(self, program: str, message: str) -> None:
        super().__init__(message)
        self.program = program


def require(program: str, env: typing.Mapping[str, str] | None = None) -> str:
    """The path ``program`` runs from, looked up on the PATH of ``env`` (default: ours), as
    exec and ``ip netns exec`` will; else MissingProgram naming the Debian package."""
    found = shutil.which(program, path=os.pathsep.join(os.get_exec_path(env)))
    if found is not None:
        return found
    package = PACKAGES.get(os.path.basename(program))
    origin = f" (Debian package {package})" if package else ""
    elsewhere = shutil.which(program, path=SYSTEM_PATH)
    if elsewhere is not None:
        message = (
            f"{program}{origin} is installed as {elsewhere} but not on PATH: add its directory"
        )
    elif package:
        message = f"{program} is not installed{origin}: run scripts/setup.sh as root"
    else:
        message = f"{program} is not installed (not found on PATH)"
    raise MissingProgram(program, message)


def check_status(
    done: subprocess.CompletedProcess[str], allowed: typing.Collection[int] = (0,)
) -> subprocess.CompletedProcess[str]:
    """``done`` if its exit status is one of ``allowed``, else LabError with the command, the
    status and what the program said (a failure is never read as an empty answer)."""
    if done.returncode in allowed:
        return done
    argv = done.args if isinstance(done.args, list | tuple) else [str(done.args)]
    detail = (done.stderr or done.stdout or "").strip().replace("\n", "; ")
    raise LabError(f"{' '.join(map(str, argv))} failed ({done.returncode}): {detail}")
