"""contrib/systemd: the units load cleanly in systemd and agree with what pycarp does.

``systemd-analyze verify`` exits 0 even for an unknown key or a bad value (it only prints a
warning and ignores the line), so a clean unit is one with status 0 *and* no output. It also
insists that ExecStart's program exists: the copy verified here runs this checkout's pycarp.
"""

from __future__ import annotations

import pathlib
import re
import shutil
import subprocess
import sys

import pytest

from pycarp.config import operate

REPO = pathlib.Path(__file__).resolve().parents[1]
UNITS = REPO / "contrib" / "systemd"
INSTALLED = "/usr/local/bin/pycarp"
MAX_EXPOSURE = 3.0  # systemd-analyze security's scale: 0 locked down ... 10 unprotected


def need_systemd_analyze() -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze not installed (Debian package systemd): run scripts/setup.sh")


def directives(path: pathlib.Path) -> dict[str, list[str]]:
    """Every ``Key=value`` of the unit (comments left out), values in order of appearance."""
    found: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key, []).append(value)
    return found


def runnable_copy(unit: str, folder: pathlib.Path) -> pathlib.Path:
    """The unit with ExecStart/ExecReload running this checkout's pycarp."""
    here = pathlib.Path(sys.executable).with_name("pycarp")
    program = str(here) if here.exists() else sys.executable
    text = (UNITS / unit).read_text()
    assert INSTALLED in text
    copy = folder / unit
    copy.write_text(text.replace(INSTALLED, program))
    return copy


@pytest.mark.parametrize("unit", ["pycarp.service", "pycarp@.service"])
def test_systemd_loads_the_unit_without_a_warning(unit: str, tmp_path: pathlib.Path) -> None:
    need_systemd_analyze()
    copy = runnable_copy(unit, tmp_path)
    done = subprocess.run(
        ["systemd-analyze", "verify", str(copy)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout + done.stderr) == (0, "")


@pytest.mark.parametrize("unit", ["pycarp.service", "pycarp@.service"])
def test_the_unit_is_locked_down(unit: str, tmp_path: pathlib.Path) -> None:
    need_systemd_analyze()
    copy = runnable_copy(unit, tmp_path)
    done = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", "--no-pager", str(copy)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    found = re.search(r"Overall exposure level for \S+: ([\d.]+)", done.stdout)
    assert found, done.stdout + done.stderr
    assert float(found.group(1)) <= MAX_EXPOSURE, done.stdout


def test_the_single_unit_is_the_template_for_the_instance_pycarp() -> None:
    template = directives(UNITS / "pycarp@.service")
    single = directives(UNITS / "pycarp.service")
    instance = {k: [v.replace("%i", "pycarp") for v in vs] for k, vs in template.items()}
    assert single == instance


def test_what_the_unit_promises() -> None:
    unit = {k: " ".join(v) for k, v in directives(UNITS / "pycarp@.service").items()}
    assert unit["Type"] == "notify"
    assert unit["NotifyAccess"] == "main"  # hooks cannot speak for the daemon
    assert unit["Restart"] == "on-failure"
    assert unit["ExecStart"].endswith(" --config /etc/pycarp/%i.toml")
    assert unit["ExecReload"].endswith("/bin/kill -HUP $MAINPID")  # the last one
    assert "--check-config" in unit["ExecReload"]
    assert unit["User"] == "pycarp"
    needed = {"CAP_NET_RAW", "CAP_NET_ADMIN"}
    assert set(unit["AmbientCapabilities"].split()) == needed
    assert set(unit["CapabilityBoundingSet"].split()) == needed
    assert unit["NoNewPrivileges"] == "yes"
    assert re.fullmatch(r"\d+s", unit["WatchdogSec"])
    # The default control socket (/run/pycarp/<file stem>.sock) and state directory are
    # the directories systemd creates for the unit's user.
    assert pathlib.Path("/run") / unit["RuntimeDirectory"] == operate.RUN_DIR
    assert pathlib.Path("/var/lib") / unit["StateDirectory"] == operate.STATE_DIR
    assert unit["RuntimeDirectoryPreserve"] == "yes"  # shared by every instance
    sysusers = (UNITS / "pycarp.sysusers").read_text()
    assert re.search(r"^u pycarp ", sysusers, re.MULTILINE)


def test_every_socket_family_pycarp_opens_is_allowed() -> None:
    """A new ``socket.socket(AF_...)`` in the daemon fails here until the unit allows it."""
    allowed = set(directives(UNITS / "pycarp@.service")["RestrictAddressFamilies"][0].split())
    used: set[str] = set()
    for path in (REPO / "src" / "pycarp").rglob("*.py"):
        if "lab" in path.relative_to(REPO / "src" / "pycarp").parts:
            continue  # the test lab, not the daemon
        used |= set(re.findall(r"socket\.socket\(\s*socket\.(AF_\w+)", path.read_text()))
    assert {"AF_INET", "AF_INET6", "AF_NETLINK", "AF_PACKET", "AF_UNIX"} <= used
    assert used <= allowed, f"not in RestrictAddressFamilies: {used - allowed}"
