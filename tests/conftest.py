"""Shared fixtures. The one here guards the machine: no test session may leave a lab behind."""

from __future__ import annotations

import os
import signal
import typing

import pytest

from pycarp.lab.lab import Lab
from pycarp.lab.namespaces import list_namespaces
from pycarp.lab.naming import owned_prefix

# A shell starts a background job (`cmd &` without job control, as `nohup` or a CI runner may)
# with SIGINT ignored, and an ignored signal stays ignored across exec: Python then installs no
# KeyboardInterrupt handler, here or in the daemons and demos the tests start, and the Ctrl-C
# tests fail for a reason that is not pycarp's. Ctrl-C behaves as in a terminal for the suite.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session", autouse=True)
def _no_lab_namespace_left_behind() -> typing.Iterator[None]:
    """After the session, no namespace of a lab this process created may remain.

    Leftovers are removed (when root) and reported as an error, never silently tolerated.
    """
    yield
    prefix = owned_prefix()
    left = [namespace for namespace in list_namespaces() if namespace.startswith(prefix)]
    if left:
        if os.geteuid() == 0:
            Lab.cleanup_stale(prefix, include_live=True)
        pytest.fail(f"LAB LEAK: this test session left network namespaces behind: {left}")
