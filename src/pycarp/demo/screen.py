"""Where the demo writes: a live board redrawn in place on a terminal, plain lines otherwise.

On a terminal the board sits at the bottom of the screen and is redrawn as it changes (with a
status line saying what we are waiting for); narrative lines scroll above it and the board is
frozen into the scrollback at the end of each step. Without a terminal (CI, a pipe, a log
file) there are no escape codes at all: every line is appended, and the board is printed
whenever it changes and has held still for one look (so a 3 ms in-between state, e.g. MASTER
before its address is added, does not clutter a log).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import textwrap
import time
import typing

STYLES = {
    "master": "\x1b[1;32m",
    "down": "\x1b[31m",
    "stale": "\x1b[33m",
    "dim": "\x1b[2m",
    "step": "\x1b[1m",
    "ok": "\x1b[32m",
    "warn": "\x1b[1;33m",
}
RESET = "\x1b[0m"
_UP_AND_CLEAR = "\x1b[{n}F\x1b[J"  # cursor to the start of the line n lines up, clear below
STAMP_WIDTH = 9  # "[ 12.3s] "
INDENT = " " * (STAMP_WIDTH + 2)  # continuation lines line up with the text after the mark
PLAIN_WIDTH = 92  # wrap width without a terminal


@dataclasses.dataclass(frozen=True)
class Marks:
    step: str
    ok: str
    holds: str
    arrow: str
    times: str


UNICODE_MARKS = Marks(step="→", ok="✓", holds="●", arrow="→", times="\u00d7")
ASCII_MARKS = Marks(step="->", ok="ok", holds="*", arrow="->", times="x")


def marks_for(encoding: str | None) -> Marks:
    """Unicode marks when the stream can encode them, ASCII otherwise."""
    try:
        "".join(dataclasses.astuple(UNICODE_MARKS)).encode(encoding or "ascii")
    except (UnicodeEncodeError, LookupError):
        return ASCII_MARKS
    return UNICODE_MARKS


class Screen:
    """Narrative lines with elapsed-time stamps, plus the board (live or appended)."""

    def __init__(self, stream: typing.TextIO, *, live: bool, colour: bool) -> None:
        self._stream = stream
        self.live = live
        self.colour = colour
        self.marks = marks_for(getattr(stream, "encoding", None))
        self._started = time.monotonic()
        self.width = (
            min(shutil.get_terminal_size((PLAIN_WIDTH, 24)).columns, 100) if live else PLAIN_WIDTH
        )
        self._board: list[str] = []
        self._status = ""
        self._drawn = 0  # lines of the live region currently on screen
        self._shown: tuple[list[str], str] = ([], "")  # what the live region shows
        self._printed: list[str] | None = None  # plain mode: last board printed
        self._candidate: list[str] | None = None  # plain mode: seen once, not yet printed

    @classmethod
    def for_stream(cls, stream: typing.TextIO) -> Screen:
        terminal = stream.isatty() and os.environ.get("TERM", "") != "dumb"
        return cls(stream, live=terminal, colour=terminal and "NO_COLOR" not in os.environ)

    # -- styling ------------------------------------------------------------------------------

    def paint(self, style: str, text: str) -> str:
        code = STYLES.get(style, "")
        return f"{code}{text}{RESET}" if self.colour and code else text

    def elapsed(self) -> float:
        return time.monotonic() - self._started

    def _stamp(self) -> str:
        return self.paint("dim", f"[{self.elapsed():5.1f}s]".ljust(STAMP_WIDTH))

    # -- narrative ----------------------------------------------------------------------------

    def line(self, text: str = "") -> None:
        """A line without a time stamp (the introduction, the summary)."""
        self._permanent([text])

    def step(self, text: str) -> None:
        """Something the demo does now: ``[  3.2s] → killing ...``."""
        self._paragraph(self.paint("step", self.marks.step), text, style="step")

    def result(self, text: str) -> None:
        """Something that happened and what it means: ``[  7.1s] ✓ h2 took over ...``."""
        self._paragraph(self.paint("ok", self.marks.ok), text)

    def warn(self, text: str) -> None:
        self._paragraph(self.paint("warn", "!"), text)

    def detail(self, text: str) -> None:
        """Continuation text under the last step or result, indented to its text, wrapped."""
        self._permanent(self._wrap(text, INDENT))

    def _paragraph(self, mark: str, text: str, style: str = "") -> None:
        lines = self._wrap(text, INDENT)
        lines[0] = f"{self._stamp()}{mark} {self.paint(style, lines[0][len(INDENT) :])}"
        self._permanent(lines)

    def _wrap(self, text: str, indent: str) -> list[str]:
        return textwrap.wrap(
            text,
            self.width,
            initial_indent=indent,
            subsequent_indent=indent,
            break_on_hyphens=False,
            break_long_words=False,
        ) or [indent]

    # -- the board ------------------------------------------------------------------------------

    def show_board(self, lines: list[str]) -> None:
        if self.live:
            self._board = lines
            self._redraw()
            return
        if lines == self._printed:
            self._candidate = None
        elif lines == self._candidate:
            self._print_board(lines)
        else:
            self._candidate = lines

    def status(self, text: str) -> None:
        """What we are waiting for (terminal only; a log gets the outcome instead)."""
        if self.live and text != self._status:
            self._status = text
            self._redraw()

    def freeze(self) -> None:
        """Put the current board into the scrollback (end of a step)."""
        if self.live:
            board, self._board, self._status = self._board, [], ""
            self._redraw()
            if board:
                self._write(self._stamped_board(board))
        else:
            self.flush()

    def flush(self) -> None:
        """Plain mode: print a board seen only once so far, before anything else is said."""
        if not self.live and self._candidate is not None and self._candidate != self._printed:
            self._print_board(self._candidate)

    def close(self) -> None:
        if self.live:
            self._board, self._status = [], ""
            self._redraw()
        self._stream.flush()

    # -- output -------------------------------------------------------------------------------

    def _print_board(self, lines: list[str]) -> None:
        self._printed, self._candidate = lines, None
        self._write(self._stamped_board(lines))

    def _stamped_board(self, lines: list[str]) -> list[str]:
        return [self._stamp() + lines[0], *(" " * STAMP_WIDTH + line for line in lines[1:])]

    def _permanent(self, lines: list[str]) -> None:
        self.flush()
        if self.live and self._drawn:
            self._erase()
            self._write(lines)
            self._draw()
        else:
            self._write(lines)

    def _redraw(self) -> None:
        """Redraw the live region if what it shows changed (its time stamp aside)."""
        if (self._board, self._status) == self._shown:
            return
        self._erase()
        self._draw()

    def _erase(self) -> None:
        if self._drawn:
            self._stream.write(_UP_AND_CLEAR.format(n=self._drawn))
            self._drawn = 0
        self._shown = ([], "")

    def _draw(self) -> None:
        region = self._stamped_board(self._board) if self._board else []
        if self._status:
            region.append(" " * STAMP_WIDTH + self.paint("dim", self._status))
        self._write(region)
        self._drawn = len(region)
        self._shown = (self._board, self._status)

    def _write(self, lines: list[str]) -> None:
        for line in lines:
            self._stream.write(line + "\n")
        self._stream.flush()
