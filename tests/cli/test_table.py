"""``pycarp table``: CARP's transition table, and with ``--vrrp3`` a VRRPv3 group's."""

from __future__ import annotations

import pytest

from pycarp.cli.table import main as table_main


def test_pycarp_table_prints_the_vrrp3_cells(capsys: pytest.CaptureFixture[str]) -> None:
    assert table_main(["--vrrp3"]) == 0
    rows = {line.split()[0]: line.split()[1:] for line in capsys.readouterr().out.splitlines()}
    assert rows["adv_departing"] == ["ignore", "expedite", "advertise"]
    assert rows["adv_slower_preempt"] == ["ignore", "ignore", "reassert"]
    assert table_main([]) == 0
    carp = {line.split()[0]: line.split()[1:] for line in capsys.readouterr().out.splitlines()}
    assert carp["adv_slower_preempt"] == ["ignore", "become_master", "->", "MASTER", "reassert"]
