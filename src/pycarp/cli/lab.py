"""``pycarp lab up|down|status|exec``: a named namespace lab that outlives the command.

The lab's state is its namespace names (``pcl-NAME-sw``, ``pcl-NAME-h1`` …), so every
subcommand is idempotent and works from any shell: ``up`` builds what is missing, ``down``
removes what is there.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from pycarp.lab import Lab, LabError
from pycarp.lab.naming import check_user_name

DEFAULT_NAME = "lab"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pycarp lab",
        description="Network-namespace lab: a switch namespace with a bridge, hosts h1..hN "
        "(198.51.100.N/24, 2001:db8::N/64 on eth0) and an optional client (.250). Needs root.",
    )
    parser.add_argument("--name", default=DEFAULT_NAME, help="lab name (default: %(default)s)")
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="build the lab (or whatever of it is missing)")
    up.add_argument("--hosts", type=int, default=2, help="number of hosts (default: 2)")
    up.add_argument("--client", action="store_true", help="also add a client namespace")
    down = commands.add_parser("down", help="remove the lab")
    down.add_argument(
        "--stale",
        action="store_true",
        help="instead, remove leftovers of crashed programs' labs (owner process gone)",
    )
    status = commands.add_parser("status", help="hosts, addresses, link state, impairments")
    run = commands.add_parser("exec", help="run a command in a node: exec h1 -- ip addr")
    run.add_argument("node", help="h1..hN, client, or sw (the switch)")
    run.add_argument("argv", nargs=argparse.REMAINDER, help="-- command [args...]")
    for sub in (up, down, status, run):
        sub.add_argument("--name", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return parser


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    if os.geteuid() != 0:
        print("pycarp lab: needs root (it creates network namespaces); try sudo", file=sys.stderr)
        return 2
    try:
        if args.command == "down" and args.stale:
            removed = Lab.cleanup_stale()
            print(f"removed {len(removed)} stale namespace(s)")
            for namespace in removed:
                print(f"  {namespace}")
            return 0
        name = check_user_name(args.name)
        if args.command == "up":
            lab = Lab.ensure(name, args.hosts, client=args.client)
            print(_describe(lab, lab.impairments()))
            return 0
        found = Lab.attach(name)
        if args.command == "down":
            if found is None:
                print(f"no lab named {name!r}: nothing to do")
                return 0
            found.close()
            print(f"lab {name!r} removed")
            return 0
        if found is None:
            others = ", ".join(Lab.existing()) or "none"
            print(f"pycarp lab: no lab named {name!r} (labs: {others})", file=sys.stderr)
            return 1
        if args.command == "status":
            print(_describe(found, found.impairments()))
            return 0
        command = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
        if not command:
            print("pycarp lab exec: give a command after --", file=sys.stderr)
            return 2
        namespace = found.namespace(found.require_node(args.node))
        return subprocess.run(["ip", "netns", "exec", namespace, *command], check=False).returncode
    except LabError as exc:
        print(f"pycarp lab: {exc}", file=sys.stderr)
        return 1


def _describe(lab: Lab, impairments: dict[str, str]) -> str:
    lines = [f"lab {lab.name!r}: switch namespace {lab.switch_namespace}, bridge br0"]
    if "*" in impairments:
        lines.append("  partition in place")
    width = max(len(lab.namespace(node)) for node in lab.nodes) if lab.nodes else 0
    for node in lab.nodes:
        namespace = lab.namespace(node)
        try:
            link = "UP" if lab.carrier(node) else "NO-CARRIER"
            virtual = lab.virtual_addresses(node)
        except Exception as exc:  # a half-built node: show it, do not hide the rest
            lines.append(f"  {node:<7} {namespace}: broken ({exc})")
            continue
        own = f"{lab.ipv4(node)} {lab.ipv6(node)}"
        extra = f"  holds {' '.join(map(str, virtual))}" if virtual else ""
        note = f"  [{impairments[node]}]" if node in impairments else ""
        lines.append(
            f"  {node:<7} {namespace:<{width}}  {lab.interface} {link:<10} {own}{extra}{note}"
        )
    return "\n".join(lines)
