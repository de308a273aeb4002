"""A pycarp group with two addresses next to ucarp, which signs over its one ``--addr`` only.

With ``--signature-mode ucarp`` pycarp signs and verifies over its first address, as ucarp
does, so the two interoperate. In the default kernel mode pycarp hashes both addresses, so
ucarp's adverts cannot verify: pycarp must refuse them (``bad_auth``) and say, in its
``packet_dropped`` event and its log, which setting would make them verify, instead of
silently following a peer it cannot authenticate.
"""

from __future__ import annotations

import pathlib
import re

from pycarp.lab import Lab
from pycarp.lab.checks import status_of
from pycarp.lab.daemons import Daemon, pycarp_args, start_pycarp, start_ucarp

from .support import (
    SETTLE,
    STARTUP,
    TAKEOVER,
    VIRTUAL_PREFIX,
    assert_steady,
    holders,
    states,
    wait_holders,
    wait_state,
)

SECOND = "198.51.100.101"
ADDRESSES = [VIRTUAL_PREFIX, f"{SECOND}/24"]  # the first one is ucarp's --addr
HINT = r"digest matches ucarp's single-address form \(over 198\.51\.100\.100 only\)"


def bad_auth_count(daemon: Daemon) -> int:
    """The group's bad_auth counter, from the daemon's status document."""
    return status_of(daemon)[1].drops.get("bad_auth", 0)


def test_kernel_mode_refuses_ucarp_and_says_why(lab: Lab, tmp_path: pathlib.Path) -> None:
    ucarp = start_ucarp(lab, "h1", workdir=tmp_path)
    wait_state(ucarp, "MASTER", STARTUP)

    args = pycarp_args(lab, "h2", addresses=ADDRESSES, advskew=100)
    pycarp = start_pycarp(lab, "h2", args, workdir=tmp_path)
    drop = pycarp.wait_for_event("packet_dropped", 3, source="198.51.100.1", reason="bad_auth")
    assert re.search(HINT, drop["detail"]), drop
    assert "set signature mode to ucarp" in drop["detail"]
    pycarp.wait_for_message("set signature mode to ucarp", 3)  # what the operator reads
    assert bad_auth_count(pycarp) >= 1
    # Deaf to the master it cannot authenticate, it takes over when its timer runs out.
    wait_state(pycarp, "MASTER", STARTUP)
    assert holders(lab, SECOND) == ["h2"]
    assert bad_auth_count(pycarp) >= 3


def test_ucarp_signature_mode_follows_ucarp_master(lab: Lab, tmp_path: pathlib.Path) -> None:
    ucarp = start_ucarp(lab, "h1", workdir=tmp_path)
    wait_state(ucarp, "MASTER", STARTUP)
    wait_holders(lab, ["h1"], SETTLE)

    extra = ["--signature-mode", "ucarp"]
    args = pycarp_args(lab, "h2", addresses=ADDRESSES, advskew=100, extra=extra)
    pycarp = start_pycarp(lab, "h2", args, workdir=tmp_path)
    wait_state(pycarp, "BACKUP", SETTLE)
    assert_steady(lab, [ucarp, pycarp], holder="h1")
    assert holders(lab, SECOND) == []
    assert states(pycarp) == ["BACKUP"]
    assert bad_auth_count(pycarp) == 0

    ucarp.kill()
    wait_state(pycarp, "MASTER", TAKEOVER)
    wait_holders(lab, ["h2"], SETTLE, address=SECOND)
    assert "h2" in holders(lab)
