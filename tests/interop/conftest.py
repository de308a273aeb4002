"""Live interop tests (ucarp peers, tshark as the independent wire decoder): root and tools.

Without root these tests cannot build a lab: they are skipped, loudly (the reason is in the
summary, and a banner says how many were not run). As root, a missing ``ucarp``, ``tshark`` or
``tcpdump`` is a failure, not a skip: CI installs them (``scripts/setup.sh``), so their absence
means a broken environment that must not pass silently as "all green".
"""

from __future__ import annotations

import os
import pathlib
import shutil
import typing

import pytest

from pycarp.lab import Lab

NOT_ROOT = (
    "INTEROP TESTS NOT RUN: they need root (network namespaces, raw sockets); "
    "run them as root after scripts/setup.sh"
)
REQUIRED_TOOLS = ("ucarp", "tshark", "tcpdump")
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = pathlib.Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.interop)


def missing_tools() -> list[str]:
    search = os.environ.get("PATH", "") + ":" + SYSTEM_PATH
    return [tool for tool in REQUIRED_TOOLS if shutil.which(tool, path=search) is None]


@pytest.fixture(scope="session")
def interop_ready() -> None:
    """Skip (not root) or fail (root, but a tool CI installs is missing)."""
    if os.geteuid() != 0:
        pytest.skip(NOT_ROOT)
    missing = missing_tools()
    if missing:
        pytest.fail(
            f"interop tools missing: {', '.join(missing)} "
            "(CI installs them with scripts/setup.sh; install them, do not skip)",
            pytrace=False,
        )


@pytest.fixture
def lab(interop_ready: None) -> typing.Iterator[Lab]:
    """Three hosts on one switch (no client), torn down after the test."""
    with Lab.create(hosts=3) as built:
        yield built


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """A banner, so a green run without root cannot pass for a tested interop."""
    skipped = terminalreporter.stats.get("skipped", [])
    not_run = [report for report in skipped if NOT_ROOT in str(report.longrepr)]
    if not_run:
        terminalreporter.write_sep("!", f"{len(not_run)} INTEROP TESTS SKIPPED: NOT ROOT", red=True)
