"""``pycarp table``: print the per-vhid transition table (the same data the machine runs)."""

from __future__ import annotations

import argparse

from pycarp.core.table import TRANSITIONS, render, render_dot
from pycarp.core.vrrp import VRRP_TRANSITIONS

# How a valid advert becomes one of the adv_* inputs (pycarp.core.election): the table's rows
# only make sense with it, and it is where advbase 0 and the demote byte differ from FreeBSD.
LEGEND = """\

A valid advert is an adv_* input after comparing it with what we would send:
  1. a bow-out (advbase 255, advskew 255) is adv_departing;
  2. the demote byte (OpenBSD's demote count; 0 from FreeBSD and ucarp): lower is adv_faster;
  3. with our advbase 1-255, a peer slower than our master-down interval is adv_departing
     (at advbase 0 this rule is skipped, as OpenBSD skips it);
  4. a higher demote byte is adv_slower_preempt (a backup takes over at once, preempt or not);
  5. advbase + advskew/256: smaller is adv_faster, equal is adv_equal_* (the lower address wins
     the tie), larger adv_slower, or adv_slower_preempt with preempt on or when the master
     advertises the demotion ceiling (advskew 240 or more) and we do not.
Timers: a master advertises every advbase + advskew/256 s (advbase 0: advskew/256 s, at least
1/256 s); a backup takes over after dead_ratio x advbase + advskew/256 s (advbase 0: dead_ratio
intervals, of ours or of the master's last heard, whichever is longer)."""


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="pycarp table",
        description=(
            "Print every (state, input) pair of the CARP state machine: the step it runs and, "
            "after '->', the state it leads to when that is another one. 'unreachable' marks "
            "pairs no event can produce (the test suite proves it). Then how an advert is "
            "classified into the adv_* inputs."
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
    if not args.dot:
        print(LEGEND)
    return 0
