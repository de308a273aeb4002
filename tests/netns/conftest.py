"""Real-kernel tests: each test gets a fresh lab (building one takes well under 0.1 s)."""

from __future__ import annotations

import os
import pathlib
import typing

import pytest

from pycarp.lab import Lab

ROOT_REASON = "needs root: creates network namespaces, veth pairs and raw sockets"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = pathlib.Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.netns)


@pytest.fixture
def root() -> None:
    if os.geteuid() != 0:
        pytest.skip(ROOT_REASON)


@pytest.fixture
def lab(root: None) -> typing.Iterator[Lab]:
    """Three hosts and a client on one switch, torn down after the test."""
    with Lab.create(hosts=3, client=True) as built:
        yield built
