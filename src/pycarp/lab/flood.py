"""Forged and replayed CARP adverts from inside a lab node, for the hostile-segment tests.

Lab tooling, not part of the daemon. A host without the group's key can do two things to a CARP
segment: flood it with adverts for the group's vhid that the receivers must authenticate (each
one costs them an HMAC) and replay signed adverts it captured. This module does both, so the
benchmark and the tests can prove the daemon survives them::

    python -m pycarp.lab.flood --vhid 1 --rate 50000 --duration 30 --iface eth0 \\
        --src-net 198.51.100.0/24
    python -m pycarp.lab.flood --iface eth0 --replay HEX [--replay HEX2] \\
        --source 198.51.100.7 --every 2 --count 10

It reports on stdout, as one JSON object, what it really sent and at what rate.

Why it is built this way:

* Every packet is built in advance, IP header included: that is what lets it forge source
  addresses and TTL 255 (a receiver in multicast mode drops anything else), and a pre-built
  pool keeps the send loop free of Python work. :mod:`pycarp.lab.forge` builds and sends
  them: whole frames on an ``AF_PACKET`` socket, 64 per ``sendmmsg`` (default: cheap enough
  to hold 50,000/s next to two busy daemons on two cores), or ``--method raw``, one
  ``sendto`` per packet on an ``IPPROTO_RAW`` socket (``IP_HDRINCL``).
* Forged adverts carry a random digest, advskew 0 and a correct checksum: they pass every cheap
  check (TTL, length, checksum, version, vhid) and reach the expensive one, as an attacker's do.
* Pacing by one-millisecond ticks: each tick sends what is due since the start, so the rate
  is even rather than bursty; a backlog longer than :data:`CATCH_UP` (the process was not
  scheduled) is dropped and reported as ``behind`` instead of being sent as one burst.
* Bounded in every direction: rate, duration and packet count are capped, sources must lie in
  the documentation networks 198.51.100.0/24 or 203.0.113.0/24, the destination is always
  224.0.0.18, and it refuses to run anywhere but inside a lab namespace (``pcl-*``), so a
  mistyped command cannot put a packet on a real network.
"""

from __future__ import annotations

import argparse
import dataclasses
import ipaddress
import json
import os
import random
import resource
import signal
import sys
import time
import typing

from pycarp.core import wire
from pycarp.core.constants import MAX_VHID
from pycarp.lab.forge import FrameSender, RawSender, Sender, forged_pool, ip_packet
from pycarp.lab.namespaces import NETNS_DIR
from pycarp.lab.naming import LAB_PREFIX

ALLOWED_NETWORKS = (
    ipaddress.IPv4Network("198.51.100.0/24"),
    ipaddress.IPv4Network("203.0.113.0/24"),
)
MAX_RATE = 200_000  # packets/s
MAX_DURATION = 120.0  # seconds
MAX_PACKETS = 10_000_000  # per run, whatever rate x duration says
MAX_REPLAYS = 1_000
MIN_EVERY = 0.01  # seconds between replays
MAX_PAYLOAD = 512
TICK = 0.001  # seconds: the pacing step
CATCH_UP = 0.050  # seconds of backlog sent late at most (a descheduled sender); older is dropped
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
SENDERS: dict[str, typing.Callable[[str, typing.Sequence[bytes]], Sender]] = {
    "frames": FrameSender,
    "raw": RawSender,
}


class FloodError(ValueError):
    """A refused request (out of bounds, outside the lab): the message says what and why."""


@dataclasses.dataclass
class Report:
    """What was really sent; printed as JSON on exit."""

    mode: str
    target_rate: float
    sent: int = 0
    errors: int = 0  # sendto failures (ENOBUFS and the like)
    behind: int = 0  # packets due but dropped because the sender fell more than CATCH_UP behind
    seconds: float = 0.0
    started_at: float = 0.0  # wall clock (time.time()) of the first send, as captures stamp
    cpu_seconds: float = 0.0
    sent_at: list[float] = dataclasses.field(default_factory=list)  # replay: wall times

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, object]:
        found = dataclasses.asdict(self)
        found["rate"] = round(self.rate, 1)
        found["seconds"] = round(self.seconds, 4)
        found["cpu_seconds"] = round(self.cpu_seconds, 3)
        if self.mode != "replay":
            del found["sent_at"]
        return found


# -- bounds -------------------------------------------------------------------------------------


def allowed_network(text: str) -> ipaddress.IPv4Network:
    """``text`` as a network inside 198.51.100.0/24 or 203.0.113.0/24, else FloodError."""
    try:
        network = ipaddress.IPv4Network(text, strict=True)
    except ValueError as error:
        raise FloodError(f"--src-net {text!r}: {error}") from None
    if not any(network.subnet_of(allowed) for allowed in ALLOWED_NETWORKS):
        raise FloodError(f"--src-net {network} is outside {_allowed_text()}: refused")
    return network


def allowed_source(text: str) -> ipaddress.IPv4Address:
    """``text`` as an address inside the documentation networks, else FloodError."""
    try:
        address = ipaddress.IPv4Address(text)
    except ValueError as error:
        raise FloodError(f"--source {text!r}: {error}") from None
    if not any(address in allowed for allowed in ALLOWED_NETWORKS):
        raise FloodError(f"--source {address} is outside {_allowed_text()}: refused")
    return address


def _allowed_text() -> str:
    return " and ".join(str(network) for network in ALLOWED_NETWORKS)


def check_bounds(rate: float, duration: float, max_packets: int) -> int:
    """The number of packets a flood may send, or FloodError naming the exceeded cap."""
    if not 0 < rate <= MAX_RATE:
        raise FloodError(f"--rate {rate:g}: must be above 0 and at most {MAX_RATE}")
    if not 0 < duration <= MAX_DURATION:
        raise FloodError(f"--duration {duration:g}: must be above 0 and at most {MAX_DURATION:g}")
    if not 0 < max_packets <= MAX_PACKETS:
        raise FloodError(f"--max-packets {max_packets}: must be 1..{MAX_PACKETS}")
    wanted = round(rate * duration)
    if wanted > max_packets:
        raise FloodError(
            f"{rate:g}/s for {duration:g} s is {wanted} packets, above the cap of {max_packets}"
        )
    return wanted


def lab_namespace() -> str:
    """The name of the lab namespace this process runs in; FloodError anywhere else.

    The network namespace of this process is looked up among ``/run/netns`` (what ``ip netns
    identify`` does); only a namespace named like the lab's (``pcl-*``) is accepted.
    """
    here = os.stat("/proc/self/ns/net")
    try:
        names = os.listdir(NETNS_DIR)
    except FileNotFoundError:
        names = []
    for name in names:
        try:
            there = os.stat(os.path.join(NETNS_DIR, name))
        except OSError:
            continue
        if (there.st_dev, there.st_ino) == (here.st_dev, here.st_ino) and name.startswith(
            LAB_PREFIX
        ):
            return name
    raise FloodError(
        f"not inside a lab network namespace ({LAB_PREFIX}*): refusing to send anything "
        "(run it with `ip netns exec <lab namespace> ...` or lab.popen)"
    )


# -- sending ------------------------------------------------------------------------------------


def flood(
    sender: Sender,
    *,
    rate: float,
    total: int,
    duration: float,
    stopping: typing.Callable[[], bool] = lambda: False,
) -> Report:
    """Send ``total`` packets of the sender's pool (round-robin) at ``rate``, within ``duration``.

    Each tick sends what is due since the start, so the rate holds on average and is even
    at the millisecond scale; a backlog beyond ``CATCH_UP`` is counted as ``behind``, not sent.
    """
    report = Report(mode="flood", target_rate=rate)
    catch_up = max(1, int(rate * CATCH_UP))
    cpu_before = _cpu()
    report.started_at = time.time()
    started = time.monotonic()
    ends = started + duration
    tick = 0
    while (done := report.sent + report.errors + report.behind) < total and not stopping():
        now = time.monotonic()
        if now >= ends:
            break
        due = min(total, int((now - started) * rate)) - done
        if due > catch_up:
            report.behind += due - catch_up
            due = catch_up
        if due > 0:
            sent, failed = sender.send(done, due)
            report.sent += sent
            report.errors += failed
        tick = max(tick + 1, int((time.monotonic() - started) / TICK))
        pause = started + tick * TICK - time.monotonic()
        if pause > 0:
            time.sleep(pause)
    report.seconds = time.monotonic() - started
    report.cpu_seconds = _cpu() - cpu_before
    return report


def replay(
    sender: Sender,
    *,
    every: float,
    count: int,
    stopping: typing.Callable[[], bool] = lambda: False,
) -> Report:
    """Send the sender's packets in turn, one every ``every`` seconds, ``count`` in all."""
    report = Report(mode="replay", target_rate=1 / every)
    cpu_before = _cpu()
    report.started_at = time.time()
    started = time.monotonic()
    for sequence in range(count):
        pause = started + sequence * every - time.monotonic()
        while pause > 0 and not stopping():
            time.sleep(min(pause, 0.05))
            pause = started + sequence * every - time.monotonic()
        if stopping():
            break
        sent, failed = sender.send(sequence, 1)
        report.sent += sent
        report.errors += failed
        if sent:
            report.sent_at.append(time.time())
    report.seconds = time.monotonic() - started
    report.cpu_seconds = _cpu() - cpu_before
    return report


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# -- command line -------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pycarp.lab.flood",
        description="Forged-advert flood or advert replay inside a pycarp lab namespace only.",
    )
    parser.add_argument("--iface", default="eth0", help="interface to send on (default eth0)")
    parser.add_argument("--vhid", type=int, default=1, help="vhid of the forged adverts")
    parser.add_argument("--advbase", type=int, default=1)
    parser.add_argument("--advskew", type=int, default=0)
    parser.add_argument("--rate", type=float, default=10_000.0, help=f"packets/s (<= {MAX_RATE})")
    parser.add_argument(
        "--duration", type=float, default=10.0, help=f"seconds (<= {MAX_DURATION:g})"
    )
    parser.add_argument("--max-packets", type=int, default=MAX_PACKETS)
    parser.add_argument("--src-net", default="198.51.100.0/24", help="forged sources from here")
    parser.add_argument("--seed", type=int, default=None, help="seed of the forged pool")
    parser.add_argument(
        "--nice",
        type=int,
        default=0,
        help="add this to the flooder's nice value (negative: ahead of the daemons for the CPU)",
    )
    parser.add_argument(
        "--method",
        choices=sorted(SENDERS),
        default="frames",
        help="frames: AF_PACKET + sendmmsg (default, ~1.5x cheaper); raw: IPPROTO_RAW sendto",
    )
    parser.add_argument(
        "--replay",
        action="append",
        metavar="HEX",
        help="replay mode: payload bytes (after the IP header) to resend; repeat to alternate",
    )
    parser.add_argument("--source", help="replay: source address of the replayed packets")
    parser.add_argument("--every", type=float, default=1.0, help="replay: seconds between sends")
    parser.add_argument("--count", type=int, default=1, help="replay: packets in all")
    return parser


def _checked_payloads(hexes: list[str]) -> list[bytes]:
    payloads = []
    for text in hexes:
        try:
            payload = bytes.fromhex(text)
        except ValueError as error:
            raise FloodError(f"--replay {text[:20]!r}...: not hex ({error})") from None
        if not 1 <= len(payload) <= MAX_PAYLOAD:
            raise FloodError(f"--replay: {len(payload)} bytes, must be 1..{MAX_PAYLOAD}")
        payloads.append(payload)
    return payloads


def run(args: argparse.Namespace, stopping: typing.Callable[[], bool]) -> Report:
    """Validate everything, then send: nothing leaves before every check has passed."""
    if args.replay:
        payloads = _checked_payloads(args.replay)
        if args.source is None:
            raise FloodError("--replay needs --source")
        source = allowed_source(args.source)
        if not 1 <= args.count <= MAX_REPLAYS:
            raise FloodError(f"--count {args.count}: must be 1..{MAX_REPLAYS}")
        if not MIN_EVERY <= args.every <= MAX_DURATION:
            raise FloodError(f"--every {args.every:g}: must be {MIN_EVERY:g}..{MAX_DURATION:g}")
        if (args.count - 1) * args.every > MAX_DURATION:
            raise FloodError(f"{args.count} sends every {args.every:g} s exceed {MAX_DURATION:g} s")
        lab_namespace()
        replayer = RawSender(args.iface, [ip_packet(payload, source) for payload in payloads])
        try:
            return replay(replayer, every=args.every, count=args.count, stopping=stopping)
        finally:
            replayer.close()
    network = allowed_network(args.src_net)
    total = check_bounds(args.rate, args.duration, args.max_packets)
    for name, value, low, high in (
        ("vhid", args.vhid, 1, MAX_VHID),
        ("advbase", args.advbase, 1, wire.MAX_ADVBASE),
        ("advskew", args.advskew, 0, wire.MAX_ADVSKEW),
    ):
        if not low <= value <= high:
            raise FloodError(f"--{name} {value}: must be {low}..{high}")
    lab_namespace()
    rng = random.Random(args.seed)  # noqa: S311 - test traffic, reproducible by seed
    pool = forged_pool(network, vhid=args.vhid, advbase=args.advbase, advskew=args.advskew, rng=rng)
    if args.nice:
        os.nice(args.nice)
    sender = SENDERS[args.method](args.iface, pool)
    try:
        return flood(sender, rate=args.rate, total=total, duration=args.duration, stopping=stopping)
    finally:
        sender.close()


def main(argv: typing.Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    stop: list[int] = []

    def request_stop(signum: int, _frame: object) -> None:
        stop.append(signum)

    # TERM/INT end the sending loop within a tick, and the report is still printed.
    previous = {signum: signal.signal(signum, request_stop) for signum in STOP_SIGNALS}
    try:
        report = run(args, lambda: bool(stop))
    except FloodError as error:
        print(f"flood: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"flood: {error}", file=sys.stderr)
        return 1
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    print(json.dumps(report.as_dict()), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
