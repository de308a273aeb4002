"""``pycarp demo`` and ``pycarp lab`` without a lab: they refuse without root in one line, and
``demo --help`` explains the steps. No root and no namespace needed (the lab runs in
tests/netns)."""

from __future__ import annotations

import os

import pytest

from pycarp.cli import demo as demo_cli
from pycarp.cli import lab as lab_cli


def test_demo_refuses_without_root(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert demo_cli.main([]) == demo_cli.EXIT_USAGE
    assert "needs root" in capsys.readouterr().err


def test_demo_help_explains_the_steps(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        demo_cli.main(["--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    for words in (
        "kill -9",
        "SIGTERM",
        "--keep",
        "preemption",
        "198.51.100.100",
        "maintenance",
        "web server",
    ):
        assert words in text


def test_lab_refuses_without_root(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert lab_cli.main(["status"]) == 2
    error = capsys.readouterr().err.strip()
    assert "needs root" in error
    assert "\n" not in error
