"""``pycarp table``: CARP's transition table, and with ``--vrrp3`` a VRRPv3 group's."""

from __future__ import annotations

import pytest

from pycarp.cli.table import main as table_main
from pycarp.core.table import Input

INPUTS = {i.value for i in Input}


def _rows(out: str) -> dict[str, list[str]]:
    """The table's rows by input (the legend below it is left out)."""
    words = [line.split() for line in out.splitlines()]
    return {w[0]: w[1:] for w in words if w and w[0] in INPUTS}


def test_pycarp_table_prints_the_vrrp3_cells(capsys: pytest.CaptureFixture[str]) -> None:
    assert table_main(["--vrrp3"]) == 0
    rows = _rows(capsys.readouterr().out)
    assert rows["adv_departing"] == ["ignore", "expedite", "advertise"]
    assert rows["adv_slower_preempt"] == ["ignore", "ignore", "reassert"]
    assert table_main([]) == 0
    carp = _rows(capsys.readouterr().out)
    assert carp["adv_slower_preempt"] == ["ignore", "become_master", "->", "MASTER", "reassert"]
