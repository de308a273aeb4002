"""Command line, header and summaries shared by every benchmark script.

Each script prints where and when its figures were taken (CPU count, kernel, load average at
start and end): on a shared two-core machine the load next to a figure is part of the figure.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import math
import os
import platform
import shlex
import statistics
import sys
import typing


@dataclasses.dataclass(frozen=True)
class Options:
    runs: int
    quick: bool
    raw: argparse.Namespace


def parse(
    description: str,
    *,
    default_runs: int,
    quick_runs: int,
    argv: typing.Sequence[str] | None = None,
    extra: typing.Callable[[argparse.ArgumentParser], None] | None = None,
) -> Options:
    """``--runs N`` and ``--quick`` (fewer, shorter runs: for checking that a script works)."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--runs",
        type=_positive,
        default=None,
        help=f"repetitions per configuration (default {default_runs}; {quick_runs} with --quick)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="fewer and shorter runs, to check the script works"
    )
    if extra is not None:
        extra(parser)
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        parser.exit(2, f"{parser.prog}: needs root (network namespaces, raw sockets)\n")
    runs = args.runs if args.runs is not None else (quick_runs if args.quick else default_runs)
    return Options(runs=runs, quick=args.quick, raw=args)


def entry(main: typing.Callable[[], int]) -> typing.NoReturn:
    """Run a script's ``main``; Ctrl-C ends it with status 130 after the lab's teardown."""
    try:
        status = main()
    except KeyboardInterrupt:
        print("interrupted: lab torn down", file=sys.stderr)
        status = 130
    raise SystemExit(status)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive count")
    return value


def load_average() -> str:
    with open("/proc/loadavg", encoding="ascii") as handle:
        return " ".join(handle.read().split()[:3])


def header(title: str) -> None:
    """Title, date, machine, load and the exact command, before any figure."""
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"== {title} ({now})")
    print(
        f"machine: {os.cpu_count()} CPUs, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}"
    )
    print(f"load average at start: {load_average()}")
    print(f"command: {shlex.join([os.path.relpath(sys.executable), *sys.argv])}")
    sys.stdout.flush()


def footer() -> None:
    print(f"load average at end: {load_average()}")


def progress(message: str) -> None:
    """One line on stderr, so stdout keeps only the figures."""
    print(message, file=sys.stderr, flush=True)


def summary(values: typing.Sequence[float], unit: str = "ms", scale: float = 1000.0) -> str:
    """``median M (min A - max B), n=N`` with values multiplied by ``scale``."""
    if not values:
        return "no data"
    scaled = [value * scale for value in values]
    digits = _digits(scaled)
    return (
        f"median {statistics.median(scaled):.{digits}f} {unit} "
        f"(min {min(scaled):.{digits}f} - max {max(scaled):.{digits}f}), n={len(scaled)}"
    )


def _digits(values: typing.Sequence[float]) -> int:
    biggest = max(abs(v) for v in values)
    if biggest >= 100:
        return 0
    if biggest >= 1:
        return 1
    return 3


def percentile(values: typing.Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (no interpolation: every figure is a measured value)."""
    if not values:
        raise ValueError("percentile of nothing")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1))
    return ordered[rank]


def table(rows: typing.Sequence[typing.Sequence[str]]) -> str:
    """Left-aligned columns separated by two spaces (first row: headings)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    ]
    return "\n".join(line.rstrip() for line in lines)
