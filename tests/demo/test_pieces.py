"""The demo's pieces on canned input: the board, the screen, ping's output, the measures and
the embedded scenario. No root needed (the whole demo runs in tests/netns/test_demo.py)."""

from __future__ import annotations

import io

import pytest

from pycarp.demo import measure
from pycarp.demo.board import Board, Cell, render
from pycarp.demo.ping import parse
from pycarp.demo.plan import GROUPS, HOSTS
from pycarp.demo.screen import ASCII_MARKS, Screen, marks_for
from pycarp.lab.naming import LabError


def board_of(cells: dict[tuple[int, str], Cell]) -> Board:
    default = Cell("backup", holds=False)
    return Board(
        tuple(((g.vhid, h), cells.get((g.vhid, h), default)) for g in GROUPS for h in HOSTS)
    )


def test_board_marks_masters_holders_and_stale_addresses() -> None:
    board = board_of(
        {
            (1, "h1"): Cell("killed", holds=True),
            (1, "h2"): Cell("MASTER", holds=True),
            (2, "h1"): Cell("killed", holds=False),
            (2, "h2"): Cell("MASTER", holds=True),
        }
    )
    lines = render(board, lambda _style, text: text, "*")
    assert lines[0].split() == list(HOSTS)
    assert lines[1].split() == [
        "vhid",
        "1",
        ".100",
        "killed",
        "*",
        "stale",
        "MASTER",
        "*",
        "backup",
    ]
    assert lines[2].split() == ["vhid", "2", ".101", "killed", "MASTER", "*", "backup"]
    assert board.masters(1) == ["h2"]
    assert board.holders(1) == ["h1", "h2"]
    assert not board.served_by(1, "h2"), "a stale copy elsewhere means not cleanly served"
    assert board.served_by(2, "h2")


def test_plain_screen_prints_a_board_once_it_held_still_and_never_escape_codes() -> None:
    stream = io.StringIO()
    screen = Screen(stream, live=False, colour=False)
    first, second = ["a", "b1"], ["a", "b2"]
    screen.show_board(first)  # seen once: not printed yet
    screen.show_board(second)  # changed before it settled: dropped
    screen.show_board(second)  # seen twice: printed
    screen.show_board(second)  # unchanged: not printed again
    screen.step("doing something")
    screen.show_board(first)
    screen.result("done")  # a board seen once is printed before anything is said
    text = stream.getvalue()
    assert "\x1b" not in text
    assert text.count("b2") == 1
    assert text.count("b1") == 1
    assert text.index("b2") < text.index("doing something") < text.index("b1") < text.index("done")


def test_marks_fall_back_to_ascii() -> None:
    assert marks_for("ascii") == ASCII_MARKS
    assert marks_for("utf-8").holds == "●"


PING_OUTPUT = """\
PING 198.51.100.100 (198.51.100.100) 56(84) bytes of data.
[1000.000000] 64 bytes from 198.51.100.100: icmp_seq=1 ttl=64 time=0.05 ms
[1000.010000] 64 bytes from 198.51.100.100: icmp_seq=2 ttl=64 time=0.05 ms
[1000.010100] 64 bytes from 198.51.100.100: icmp_seq=2 ttl=64 time=0.05 ms (DUP!)
[1002.530000] 64 bytes from 198.51.100.100: icmp_seq=200 ttl=64 time=0.05 ms
[1002.540000] 64 bytes from 198.51.100.100: icmp_seq=201 ttl=64 time=0.05 ms

--- 198.51.100.100 ping statistics ---
201 packets transmitted, 4 received, +1 duplicates, 98.01% packet loss, time 2540ms
"""


def test_ping_output_gives_losses_the_outage_and_the_real_spacing() -> None:
    result = parse(PING_OUTPUT)
    assert (result.transmitted, result.received, result.lost) == (201, 4, 197)
    assert len(result.replies) == 4, "duplicates are not replies of their own"
    assert result.longest_silence == pytest.approx(2.52)
    assert result.spacing == pytest.approx(0.01)


def test_ping_without_summary_is_an_error() -> None:
    with pytest.raises(LabError, match="no summary"):
        parse("ping: connect: Network is unreachable\n")


def address_changed(
    mono: float, address: str, *, added: bool, error: str = ""
) -> dict[str, object]:
    return {
        "event": "address_changed",
        "mono": mono,
        "group": "1@eth0",
        "address": address,
        "added": added,
        "latency_ms": 4.0,
        "error": error,
    }


def test_address_held_pairs_added_with_the_next_removed() -> None:
    events = [
        {"event": "state_changed", "mono": 99.990, "old": "BACKUP", "new": "MASTER"},
        address_changed(99.995, "198.51.100.100/24", added=True),
        address_changed(100.010, "198.51.100.100/24", added=False, error="EBUSY"),  # no change
        address_changed(100.025, "198.51.100.100/24", added=False),
        address_changed(100.030, "198.51.100.101/24", added=True),
    ]
    assert measure.address_held(events, "198.51.100.100") == pytest.approx(0.030)
    assert measure.address_held(events, "198.51.100.101") is None, "still held: no figure"
    assert measure.address_held(events, "198.51.100.10") is None, "another address"


def test_demo_groups_spread_the_load() -> None:
    """The embedded scenario: each of the first two hosts is preferred for one address."""
    assert [group.preferred for group in GROUPS] == ["h1", "h2"]
    assert all(group.ranked()[-1] == "h3" for group in GROUPS)
    first = GROUPS[0]
    assert first.master_down("h2") == pytest.approx(3 + 100 / 256)
    assert first.master_down_formula("h2", "x") == "3 x 1 s + 100/256 s"
