"""``pycarp table``: print the per-vhid transition table (the same data the machine runs)."""

from __future__ import annotations

import argparse

from pycarp.core.table import render, render_dot


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="pycarp table",
        description=(
            "Print every (state, input) pair of the CARP state machine: the step it runs and, "
            "after '->', the state it leads to when that is another one. 'unreachable' marks "
            "pairs no event can produce (the test suite proves it)."
        ),
    )
    parser.add_argument(
        "--dot",
        action="store_true",
        help="print a Graphviz digraph instead (draw it with: pycarp table --dot | dot -Tsvg)",
    )
    args = parser.parse_args(argv)
    print(render_dot() if args.dot else render())
    return 0
