"""``pycarp``: ucarp-compatible daemon flags by default, plus subcommands.

An unchanged ucarp command line (``pycarp -i eth0 -s 198.51.100.1 -v 1 -p ... -a ...``) runs the
daemon; a first word naming a subcommand runs that instead. Each subcommand module exposes
``main(argv) -> int`` and is imported only when used, so start-up stays fast.
"""

from __future__ import annotations

import importlib
import sys

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "run": ("pycarp.cli.run", "run the daemon (also the default: ucarp-compatible flags)"),
    "decode": ("pycarp.cli.decode", "decode a CARP packet (hex or pcap) and check its digest"),
    "watch": ("pycarp.cli.watch", "watch a segment's CARP/VRRP speakers and say what is wrong"),
    "simulate": ("pycarp.cli.simulate", "simulate a group on a virtual segment, print a timeline"),
    "lab": ("pycarp.cli.lab", "build/tear down a network-namespace lab (root)"),
    "demo": ("pycarp.cli.demo", "live failover demo in a throwaway lab (root)"),
    "table": ("pycarp.cli.table", "print the state machine's transition table"),
    "status": ("pycarp.cli.status", "show a running daemon's groups: state, master, why"),
    "maintenance": ("pycarp.cli.maintenance", "maintenance on|off: keep this node from master"),
    "demote": ("pycarp.cli.demote", "demote +N|-N|=N [VHID@IF]: change the operator demotion"),
    "state": ("pycarp.cli.state", "state VHID@IF master|backup: force a group's state now"),
}


def _overview() -> str:
    lines = [
        "usage: pycarp [ucarp options...]      run the daemon (see: pycarp run --help)",
        "       pycarp SUBCOMMAND [options...]",
        "",
        "pycarp is a userland CARP implementation: kernel-compatible on the wire, a drop-in",
        "for ucarp's command line, many groups in one process.",
        "",
        "subcommands:",
    ]
    lines += [f"  {name:<12} {text}" for name, (_module, text) in SUBCOMMANDS.items()]
    lines.append("")
    lines.append("Each subcommand has its own --help.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] in SUBCOMMANDS:
        if args[0] == "run":
            _catch_stop_signals()
        module = importlib.import_module(SUBCOMMANDS[args[0]][0])
        code: int = module.main(args[1:])
        return code
    if args in (["-h"], ["--help"], []):
        # ucarp users type --help and expect the daemon's flags: show both.
        from pycarp.config.flags import build_parser

        print(_overview())
        print()
        print(build_parser().format_help())
        return 0 if args else 2
    _catch_stop_signals()
    run: int = importlib.import_module(SUBCOMMANDS["run"][0]).main(args)
    return run


def _catch_stop_signals() -> None:
    """The daemon: SIGINT/SIGTERM are caught before its slow imports (see cli/stopping.py)."""
    from pycarp.cli import stopping

    stopping.catch()
