"""``pycarp simulate``: readable timeline, JSON for scripts, one-line errors with exit 2."""

from __future__ import annotations

import json
import re

import pytest

from pycarp.cli import main as pycarp_main
from pycarp.cli import simulate

TIMELINE_LINE = re.compile(
    r"^t=\s*\d+\.\d{3}s  host\d\s+vhid \d+  (INIT|BACKUP|MASTER) -> (INIT|BACKUP|MASTER)  \(.+\)$"
)


def test_failover_prints_a_timeline_and_a_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert simulate.main(["failover"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    changes = [line for line in lines if TIMELINE_LINE.match(line)]
    assert len(changes) == 6  # three boots, host1 elected, host1 crashes, host2 takes over
    assert re.search(r"host2\s+vhid 1  BACKUP -> MASTER  \(master-down timer expired\)", out)
    assert re.search(r"host1\s+\*\* crashed", out)
    assert "vhid 1: master host2; addresses held by host2" in out
    gap = re.search(r"host2 took over, gap (\d+\.\d+)s", out)
    assert gap is not None
    assert 3.39 <= float(gap.group(1)) <= 3.4 + 1.0


def test_json_output_is_one_document_with_the_same_facts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert simulate.main(["load-spread", "--json", "--seed", "3"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["scenario"] == "load-spread"
    assert report["parameters"]["seed"] == 3
    by_vhid = {v["vhid"]: v for v in report["vhids"]}
    assert by_vhid[1]["masters"] == ["host2"]
    assert by_vhid[2]["masters"] == ["host3"]
    (failover,) = by_vhid[1]["failovers"]
    assert failover["old"] == "host1"
    assert failover["new"] == "host2"
    assert {"t", "host", "vhid", "old", "new", "reason"} <= set(report["timeline"][0])


def test_summary_only_and_dispatch_through_the_main_command(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert pycarp_main.main(["simulate", "preempt", "--preempt", "--summary-only"]) == 0
    out = capsys.readouterr().out
    assert not any(TIMELINE_LINE.match(line) for line in out.splitlines())
    assert "vhid 1: master host1" in out
    assert "preempt on" in out


def test_the_same_seed_prints_the_same_output(capsys: pytest.CaptureFixture[str]) -> None:
    simulate.main(["random", "--seed", "9", "--loss", "0.1"])
    first = capsys.readouterr().out
    simulate.main(["random", "--seed", "9", "--loss", "0.1"])
    assert capsys.readouterr().out == first


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (["lossy", "--loss", "1.5"], "--loss"),
        (["failover", "--hosts", "1"], "--hosts"),
        (["failover", "--advskew", "0,300,100"], "--advskew"),
        (["failover", "--advskew", "a,b"], "--advskew"),
        (["failover", "--advbase", "256"], "--advbase"),
        (["failover", "--duration", "2"], "--duration"),
        (["failover", "--hosts", "many"], "--hosts"),
        (["nosuch"], "SCENARIO"),
        (["failover", "--bogus"], "--bogus"),
        ([], "SCENARIO"),
    ],
)
def test_invalid_options_give_one_line_naming_the_option_and_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], option: str
) -> None:
    assert simulate.main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("pycarp simulate: error: ")
    assert option in lines[0]
    assert "Traceback" not in captured.err


def test_help_lists_every_scenario_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert simulate.main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in ("failover", "preempt", "split-brain", "bow-out", "wrong-pass", "lossy"):
        assert f"  {name} " in out
    assert "load-spread" in out
    assert "random" in out
    assert "--seed" in out
