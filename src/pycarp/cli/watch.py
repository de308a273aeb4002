"""``pycarp watch``: every CARP and VRRP speaker on a segment, and what is wrong with them.

Reads a capture (``--pcap``, deterministic) or listens on an interface (``-i``, read-only:
a packet socket that never sends, CAP_NET_RAW is enough) and hands every frame to the sans-I/O
:class:`~pycarp.watch.watcher.Watcher`. Exit status: 0 nothing of warning or worse found,
1 findings, 2 usage or input error (one line on stderr, never a traceback).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import signal
import sys
import time
from collections.abc import Callable

from pycarp import pcap
from pycarp.config.model import ConfigError, parse_address, read_passfile
from pycarp.core.constants import IPAddress
from pycarp.watch import render
from pycarp.watch.digest import IFCONFIG_KEY_LEN
from pycarp.watch.findings import Severity
from pycarp.watch.report import Report
from pycarp.watch.watcher import Watcher

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_BAD_INPUT = 2
TICK = 1.0  # live mode: how often findings are looked for

_EPILOG = f"""\
what it shows:
  One table per group (protocol, vhid/VRID, address family): each sender's address and MAC,
  advbase/advskew (VRRP: priority) and demote byte, announced and measured interval (mean and
  jitter), counter behaviour, digest verdict and last seen; the master and every change of
  master with its cause and the silence before it; then the findings, each with a stable code,
  a severity, the packets that show it and one sentence of advice (docs/watch.md lists them).

digest check (CARP):
  --pass/--passfile give passphrases to try (repeatable; VHID=... for one vhid only);
  --config FILE (a pycarp TOML configuration, repeatable) gives each of its groups'
  passphrase and addresses. Only the first {IFCONFIG_KEY_LEN} bytes of a passphrase count, as
  with ifconfig (a longer one is also tried with 20).
  --addr A[,B...] gives an address set to try (repeatable; VHID=A,B for one vhid). After
  these, the addresses the group's MACs announced by gratuitous ARP / unsolicited neighbour
  advertisement are tried. Each advert is said to verify in kernel form (all addresses),
  ucarp form (one address of several), or not at all.

output and exit status:
  Text by default. --json: one JSON document at the end (--pcap, --duration), or, live
  without --duration, one JSON line per finding as it is found.
  0: no finding of severity warning or worse   1: such findings   2: usage or input error

examples:
  pycarp watch --pcap carp.pcap --pass secret
  pycarp watch -i eth0 --duration 30 --pass 5=secret --addr 5=198.51.100.10,198.51.100.11
"""


class UsageError(Exception):
    """Bad arguments or input: the message is the one line printed on stderr."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pycarp watch",
        description="Watch the CARP and VRRP speakers of a segment and say what is wrong.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--pcap", metavar="FILE", help="analyse a classic pcap file (tcpdump -w)")
    source.add_argument("-i", "--interface", metavar="IF", help="listen on IF (read-only)")
    parser.add_argument("--duration", type=float, metavar="S", help="with -i: stop after S seconds")
    parser.add_argument(
        "--every", type=float, metavar="S", help="with -i: print the tables every S seconds"
    )
    parser.add_argument(
        "--pass",
        dest="passphrases",
        action="append",
        default=[],
        metavar="[VHID=]PASS",
        help="a passphrase to check digests with (repeatable)",
    )
    parser.add_argument(
        "--passfile",
        action="append",
        default=[],
        metavar="[VHID=]FILE",
        help="read a passphrase from FILE's first line (repeatable)",
    )
    parser.add_argument(
        "--addr",
        action="append",
        default=[],
        metavar="[VHID=]A[,B...]",
        help="an address set of a group, for the digest check (repeatable)",
    )
    parser.add_argument(
        "--config",
        action="append",
        default=[],
        metavar="FILE",
        help="a pycarp TOML configuration: its groups' passphrases and addresses are tried",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    return parser


def _split_vhid(flag: str, text: str) -> tuple[int | None, str]:
    head, sep, rest = text.partition("=")
    if not sep or not head.isdigit():
        return None, text
    vhid = int(head)
    if not 1 <= vhid <= 255:
        raise UsageError(f"{flag} {text!r}: vhid {vhid} is outside 1..255")
    return vhid, rest


def credentials(
    args: argparse.Namespace,
) -> tuple[dict[int | None, list[bytes]], dict[int | None, list[tuple[IPAddress, ...]]]]:
    passphrases: dict[int | None, list[bytes]] = {}
    sets: dict[int | None, list[tuple[IPAddress, ...]]] = {}
    try:
        for text in args.passphrases:
            vhid, secret = _split_vhid("--pass", text)
            if not secret:
                raise UsageError(f"--pass {text!r}: the passphrase is empty")
            passphrases.setdefault(vhid, []).append(secret.encode())
        for text in args.passfile:
            vhid, path = _split_vhid("--passfile", text)
            secret_bytes = read_passfile("--passfile", path)
            if not secret_bytes:
                raise UsageError(f"--passfile {path}: the passphrase is empty")
            passphrases.setdefault(vhid, []).append(secret_bytes)
        for text in args.addr:
            vhid, listed = _split_vhid("--addr", text)
            parts = [p for p in listed.split(",") if p]
            if not parts:
                raise UsageError(f"--addr {text!r}: no address")
            sets.setdefault(vhid, []).append(tuple(parse_address("--addr", p).ip for p in parts))
    except ConfigError as error:
        raise UsageError(str(error)) from None
    if sets and not passphrases and not args.config:
        raise UsageError(
            "--addr is only used to check digests: give --pass, --passfile or --config"
        )
    return passphrases, sets


def from_configs(
    paths: list[str], passphrases: dict[int | None, list[bytes]]
) -> dict[int, list[tuple[IPAddress, ...]]]:
    """Each group of each file: its passphrase joins ``passphrases`` for its vhid, its
    addresses become a candidate set (the daemons' own view of the group)."""
    from pycarp.config.toml import load_config

    sets: dict[int, list[tuple[IPAddress, ...]]] = {}
    for path in paths:
        try:
            config = load_config(pathlib.Path(path))
        except ConfigError as error:
            raise UsageError(f"--config {path}: {error}") from None
        except OSError as error:
            raise UsageError(f"cannot read {path}: {error.strerror}") from None
        for group in config.groups:
            settings = group.settings
            keys = passphrases.setdefault(settings.vhid, [])
            if settings.passphrase not in keys:
                keys.append(settings.passphrase)
            if settings.addresses and settings.addresses not in sets.get(settings.vhid, []):
                sets.setdefault(settings.vhid, []).append(settings.addresses)
    return sets


def main(argv: list[str]) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as leaving:
        return EXIT_OK if leaving.code in (0, None) else EXIT_BAD_INPUT
    try:
        report = _run(args)
    except UsageError as error:
        print(f"pycarp watch: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        if args.json:
            if args.pcap or args.duration is not None:
                print(json.dumps(report.as_json(), indent=1))
        else:
            print(render.text(report))
        sys.stdout.flush()
    except BrokenPipeError:  # `pycarp watch ... | head`: the reader has seen enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return exit_code(report)


def _run(args: argparse.Namespace) -> Report:
    if bool(args.pcap) == bool(args.interface):
        raise UsageError("give either --pcap FILE or -i INTERFACE (see --help)")
    if args.duration is not None and (args.pcap or not 0 < args.duration <= 86400):
        raise UsageError(f"--duration {args.duration}: seconds in 0..86400, only with -i")
    if args.every is not None and (args.pcap or args.json or not 0 < args.every <= 86400):
        raise UsageError(f"--every {args.every}: seconds in 0..86400, only with -i, not --json")
    passphrases, sets = credentials(args)
    configured = from_configs(args.config, passphrases)
    watcher = Watcher(passphrases, sets, configured)
    if args.pcap:
        return read_capture(watcher, args.pcap)
    return listen(watcher, args.interface, args.duration, json_lines=args.json, every=args.every)


def exit_code(report: Report) -> int:
    worst = report.worst
    return EXIT_FINDINGS if worst is not None and worst >= Severity.WARNING else EXIT_OK


def read_capture(watcher: Watcher, path: str) -> Report:
    """Feed every record; a file cut short still gives the report of what came before."""
    try:
        with pathlib.Path(path).open("rb") as stream:
            try:
                for record in pcap.read_records(stream):
                    watcher.feed_frame(record.timestamp, record.linktype, record.data, record.frame)
            except pcap.PcapError as error:
                if watcher.frames == 0:
                    raise UsageError(f"{path}: {error}") from None
                print(f"pycarp watch: warning: {path}: {error}", file=sys.stderr)
    except OSError as error:
        raise UsageError(f"cannot read {path}: {error.strerror}") from None
    return watcher.finish()


def listen(
    watcher: Watcher,
    interface: str,
    duration: float | None,
    *,
    json_lines: bool,
    every: float | None = None,
) -> Report:
    """Frames until ``duration`` is over, or Ctrl-C / SIGTERM.

    Without ``duration`` each finding is printed once as soon as it is found (a JSON line
    with ``json_lines``); with it, only the report at the end tells. ``every``: print the
    whole text report that often as well (the live table).
    """
    from pycarp.platform.sniffer import Sniffer, SnifferError

    emit: Callable[[Report, set[str]], None] = _emit_json if json_lines else _emit_text
    try:
        sniffer = Sniffer(interface)
    except SnifferError as error:
        raise UsageError(str(error)) from None
    print(f"pycarp watch: listening on {interface} (read-only)", file=sys.stderr, flush=True)
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    reported: set[str] = set()
    deadline = None if duration is None else time.monotonic() + duration
    next_tick = time.monotonic() + TICK
    next_table = None if every is None else time.monotonic() + every
    try:
        with sniffer:
            while deadline is None or time.monotonic() < deadline:
                wait = TICK if deadline is None else min(TICK, deadline - time.monotonic())
                received = sniffer.receive(max(wait, 0.0))
                if received is not None:
                    watcher.feed_frame(received[0], sniffer.linktype, received[1])
                if deadline is None and time.monotonic() >= next_tick:
                    next_tick = time.monotonic() + TICK
                    emit(watcher.report(), reported)
                if every is not None and next_table is not None and time.monotonic() >= next_table:
                    next_table = time.monotonic() + every
                    print(f"{render.text(watcher.report())}\n", flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
    report = watcher.finish()
    if deadline is None and json_lines:
        emit(report, reported)  # the rest; text mode prints the whole report next
    return report


def _raise_interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def _emit_json(report: Report, reported: set[str]) -> None:
    for finding in report.findings:
        if finding.key not in reported:
            reported.add(finding.key)
            print(json.dumps(finding.as_json()), flush=True)


def _emit_text(report: Report, reported: set[str]) -> None:
    for finding in report.findings:
        if finding.key not in reported:
            reported.add(finding.key)
            print("\n".join(render.finding_lines(finding, report.start or 0.0)), flush=True)
