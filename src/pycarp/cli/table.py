"""``pycarp table``: print the per-vhid transition table (the same data the machine runs)."""

from __future__ import annotations

import argparse

from pycarp.core.table import TRANSITIONS, render, render_dot
from pycarp.core.vrrp import VRRP_TRANSITIONS


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
    parser.add_argument(
        "--vrrp3",
        action="store_true",
        help="the table of a VRRPv3 group (four cells differ: see docs/behaviour.md, VRRPv3)",
    )
    args = parser.parse_args(argv)
    table = VRRP_TRANSITIONS if args.vrrp3 else TRANSITIONS
    print(render_dot(table) if args.dot else render(table))
    return 0
