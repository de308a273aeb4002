"""``pycarp simulate``: run a named scenario on the virtual segment and print what happened.

Everything is simulated (no sockets, no root, no real time): an hour of a lossy segment runs in
well under a second. Invalid options give one line naming the option and the allowed range, and
exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
import typing

from pycarp.core.settings import SETTING_RANGES
from pycarp.sim import scenarios as sc
from pycarp.sim.report import build_report, render_text

EXIT_USAGE = 2


class _UsageError(Exception):
    """argparse wanted to print usage and exit; we print one line instead."""


_ADVSKEW = SETTING_RANGES["advskew"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> typing.NoReturn:
        raise _UsageError(message.removeprefix("argument "))


def _number(kind: type[int] | type[float], allowed: str) -> typing.Callable[[str], float]:
    """A converter whose error says what is allowed (ranges are checked once parsed)."""

    def convert(text: str) -> float:
        try:
            return kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not allowed ({allowed})") from None

    convert.__name__ = kind.__name__
    return convert


def _int_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not allowed (comma-separated integers from {_ADVSKEW.low:g} to "
            f"{_ADVSKEW.high:g}, e.g. 0,100,200)"
        ) from None


def _epilog() -> str:
    lines = ["scenarios:"]
    for scenario in sc.SCENARIOS.values():
        lines += textwrap.wrap(
            scenario.description,
            width=88,
            initial_indent=f"  {scenario.name:<12} ",
            subsequent_indent=" " * 15,
        )
    lines += [
        "",
        "Script times (t=10, ...) are for advbase 1; they scale with --advbase (and with",
        "--dead-ratio above 3); at --advbase 0 (sub-second, OpenBSD) the unit is the slowest",
        "host's interval. --loss is the inbound loss on every link: each packet is lost",
        "for each receiver independently. The same --seed always gives the same run.",
        "",
        "examples:",
        "  pycarp simulate failover",
        "  pycarp simulate preempt --preempt",
        "  pycarp simulate lossy --loss 0.3 --duration 600 --summary-only",
        "  pycarp simulate random --seed 7 --hosts 5 --json",
        "  pycarp simulate failover --advbase 0 --advskew 25,50",
        "  pycarp simulate mixed-demote --seed 3 --summary-only",
        "  pycarp simulate failover --vrrp3",
    ]
    return "\n".join(lines)


def _parser() -> _Parser:
    parser = _Parser(
        prog="pycarp simulate",
        description="Simulate CARP hosts (the real pycarp state machine) on a virtual segment\n"
        "with a virtual clock; print the state changes and a summary.",
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "scenario", choices=list(sc.SCENARIOS), metavar="SCENARIO", help="one of those below"
    )
    parser.add_argument(
        "--hosts",
        type=_number(int, f"an integer from 1 to {sc.MAX_HOSTS}"),
        metavar="N",
        help=f"number of hosts (default 3, at most {sc.MAX_HOSTS})",
    )
    parser.add_argument(
        "--advskew",
        type=_int_list,
        dest="advskews",
        metavar="LIST",
        help=f"advskew per host, comma-separated (default 0,100,200,... spread within {_ADVSKEW})",
    )
    parser.add_argument(
        "--advbase",
        type=_number(int, SETTING_RANGES["advbase"].allowed()),
        default=1,
        metavar="SECONDS",
        help=f"advbase, {SETTING_RANGES['advbase']} s; 0: sub-second, every advskew/256 s "
        "(default 1)",
    )
    parser.add_argument(
        "--dead-ratio",
        type=_number(int, SETTING_RANGES["dead_ratio"].allowed()),
        default=3,
        metavar="N",
        help="adverts missed before takeover (default 3)",
    )
    parser.add_argument(
        "--preempt",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="take the group back when strictly better (default off)",
    )
    parser.add_argument(
        "--loss",
        type=_number(float, "a probability from 0 to 1"),
        metavar="P",
        help="inbound loss probability on every link, 0-1 (lossy: 0.2)",
    )
    parser.add_argument(
        "--delay",
        type=_number(float, f"seconds from 0 to {sc.MAX_DELAY:g}"),
        default=0.0005,
        metavar="SECONDS",
        help="one-way delay per link, s (default 0.0005)",
    )
    parser.add_argument(
        "--jitter",
        type=_number(float, f"seconds from 0 to {sc.MAX_DELAY:g}"),
        default=0.0002,
        metavar="SECONDS",
        help="extra random delay per link, s",
    )
    parser.add_argument(
        "--duration",
        type=_number(float, f"seconds, at most {sc.MAX_DURATION:g}"),
        metavar="SECONDS",
        help="simulated seconds (default: depends on the scenario)",
    )
    parser.add_argument(
        "--seed",
        type=_number(int, "an integer of 0 or more"),
        default=1,
        metavar="N",
        help="random seed (default 1)",
    )
    parser.add_argument(
        "--vrrp3",
        action="store_true",
        help="run VRRPv3 groups: priority 254 - advskew per host, interval --advbase s, "
        "preempt on unless --no-preempt (not with wrong-pass: VRRPv3 has no passphrase)",
    )
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print one JSON document")
    output.add_argument(
        "--summary-only", action="store_true", help="print the summary without the timeline"
    )
    return parser


def main(argv: list[str]) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
        options = sc.Options(
            hosts=args.hosts,
            advskews=args.advskews,
            advbase=args.advbase,
            dead_ratio=args.dead_ratio,
            preempt=args.preempt,
            loss=args.loss,
            delay=args.delay,
            jitter=args.jitter,
            duration=args.duration,
            seed=args.seed,
            vrrp3=args.vrrp3,
        )
        params = sc.resolve(args.scenario, options)
    except SystemExit as done:  # --help
        return done.code if isinstance(done.code, int) else 0
    except (_UsageError, sc.OptionError) as error:
        print(f"pycarp simulate: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    report = build_report(sc.run(params), params)
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        print(render_text(report, timeline=not args.summary_only))
    return 0
