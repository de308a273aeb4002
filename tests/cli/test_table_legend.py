"""``pycarp table`` explains how an advert becomes an adv_* input, advbase 0 and demote included."""

from __future__ import annotations

import pytest

from pycarp.cli import table


def test_the_table_ends_with_the_advert_legend(capsys: pytest.CaptureFixture[str]) -> None:
    assert table.main([]) == 0
    out = capsys.readouterr().out
    assert out.rstrip().endswith(table.LEGEND.strip())
    assert "demote byte" in table.LEGEND
    assert "advbase 0" in table.LEGEND


def test_the_dot_output_has_no_legend(capsys: pytest.CaptureFixture[str]) -> None:
    assert table.main(["--dot"]) == 0
    out = capsys.readouterr().out
    assert "demote byte" not in out
    assert out.lstrip().startswith("digraph")
