"""``pycarp table``: print the per-vhid transition table (the same data the machine runs)."""

from __future__ import annotations

import argparse

from pycarp.core.table import render


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="pycarp table",
        description="Print every (state, input) pair of the CARP state machine and its step.",
    )
    parser.parse_args(argv)
    print(render())
    return 0
