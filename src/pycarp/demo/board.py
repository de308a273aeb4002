"""Who is master of what, right now: one row per group, one column per host.

The board is read the way an operator would check: the state each pycarp last entered (its
``state_changed`` events, as ``--events`` writes them) and the addresses actually on each
host's ``eth0`` (read by the caller). A host whose pycarp is not running shows why (killed,
stopped); an address on a host that is not its master shows as stale, which is exactly what
kill -9 leaves behind.
"""

from __future__ import annotations

import dataclasses
import typing

from pycarp.demo.plan import GROUPS, HOSTS

if typing.TYPE_CHECKING:
    from pycarp.lab.daemons import Daemon

Paint = typing.Callable[[str, str], str]  # (style, text) -> text, maybe with colour codes

LABEL_WIDTH = 14
CELL_WIDTH = 18


@dataclasses.dataclass(frozen=True)
class Cell:
    """One host's view of one group: its state and whether it holds the group's address."""

    state: str  # MASTER, backup, init, starting, stopping, or why pycarp is gone (killed, ...)
    holds: bool

    @property
    def running(self) -> bool:
        return self.state in ("MASTER", "backup", "init", "starting", "stopping")


@dataclasses.dataclass(frozen=True)
class Board:
    """Cells keyed by (vhid, host); equal boards mean nothing visible changed."""

    cells: tuple[tuple[tuple[int, str], Cell], ...]

    def cell(self, vhid: int, host: str) -> Cell:
        return dict(self.cells)[(vhid, host)]

    def masters(self, vhid: int) -> list[str]:
        return [host for (v, host), cell in self.cells if v == vhid and cell.state == "MASTER"]

    def holders(self, vhid: int) -> list[str]:
        return [host for (v, host), cell in self.cells if v == vhid and cell.holds]

    def served_by(self, vhid: int, host: str) -> bool:
        """``host`` is the only master of the group, holds its address, and nobody else does."""
        return self.masters(vhid) == [host] and self.holders(vhid) == [host]


def observe(
    held: typing.Mapping[str, typing.Collection[str]],
    daemons: typing.Mapping[str, Daemon],
    not_running: typing.Mapping[str, str],
) -> Board:
    """The board from each host's virtual addresses (``held``) and its pycarp's events.

    ``not_running`` says, per host, why its pycarp is gone ("killed", "stopped"); a host in
    it whose pycarp is still alive is shown as stopping.
    """
    cells: list[tuple[tuple[int, str], Cell]] = []
    for host in HOSTS:
        daemon = daemons.get(host)
        states: dict[int, str] = {}
        if daemon is not None and daemon.alive():
            for vhid, _old, new, _reason in daemon.state_changes():
                states[vhid] = new
        for group in GROUPS:
            if daemon is None or not daemon.alive():
                state = not_running.get(host, "not running")
            elif host in not_running:  # signalled, still releasing its addresses
                state = "stopping"
            else:
                entered = states.get(group.vhid)
                state = "starting" if entered is None else _word(entered)
            cells.append(((group.vhid, host), Cell(state, group.address in held.get(host, ()))))
    return Board(tuple(cells))


def _word(state: str) -> str:
    """MASTER stays loud; the other states are written in lower case so MASTER stands out."""
    return state if state == "MASTER" else state.lower()


def render(board: Board, paint: Paint, holds_mark: str) -> list[str]:
    """The table as lines (colour codes only if ``paint`` adds them)."""
    header = " " * LABEL_WIDTH + "".join(host.ljust(CELL_WIDTH) for host in HOSTS)
    lines = [paint("dim", header.rstrip())]
    for group in GROUPS:
        label = f"vhid {group.vhid}  {group.short}".ljust(LABEL_WIDTH)
        cells = [_render_cell(board.cell(group.vhid, host), paint, holds_mark) for host in HOSTS]
        lines.append((label + "".join(cells)).rstrip())
    return lines


def _render_cell(cell: Cell, paint: Paint, holds_mark: str) -> str:
    text = cell.state
    if cell.holds:  # only a master should: anyone else holds it stale
        text += f" {holds_mark}" if cell.state == "MASTER" else f" {holds_mark} stale"
    padded = text.ljust(CELL_WIDTH)
    if cell.state == "MASTER":
        return paint("master", padded)
    if cell.holds:
        return paint("stale", padded)
    return paint("plain" if cell.running else "down", padded)
