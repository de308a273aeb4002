"""What a forged advert costs the core: time per packet in ``GroupMachine.handle``, and
through ``Host.receive`` (demux, the feed loop and the re-arm check: what the daemon runs).

A flood of adverts with the group's vhid and a wrong digest can only be rejected by the HMAC,
so this cost decides how large a flood one core absorbs. Measured for a group with one and
with four addresses (a mismatch used to cost one more HMAC per address), on adverts with
random digests and 250 distinct sources, in process (no sockets: the runtime adds the
receive system call and the event). Pure computation: no lab, no root.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import random
import statistics
import time

from benchlib import runner
from pycarp.core import events as ev
from pycarp.core import wire
from pycarp.core.host import Host
from pycarp.core.machine import GroupMachine
from pycarp.core.settings import GroupSettings

PACKETS = 50_000


def _forged(count: int, rng: random.Random) -> list[ev.PacketReceived]:
    packets = []
    for n in range(count):
        advert = wire.Advertisement(
            vhid=1, advbase=1, advskew=0, counter=rng.getrandbits(64), digest=os.urandom(20)
        )
        source = ipaddress.IPv4Address(f"198.51.100.{n % 250 + 2}")
        packets.append(ev.PacketReceived(payload=wire.encode(advert), source=source, ttl=255))
    return packets


def _settings(addresses: int) -> GroupSettings:
    return GroupSettings(
        vhid=1,
        passphrase=b"secret",
        addresses=tuple(ipaddress.IPv4Address(f"203.0.113.{n + 1}") for n in range(addresses)),
        source=ipaddress.IPv4Address("198.51.100.1"),
    )


def per_packet_via_host(addresses: int, packets: list[ev.PacketReceived]) -> float:
    """The same packets through ``Host.receive``; the actions go nowhere (the drop reports a
    runtime would publish are a few per window, not per packet)."""
    host = Host(random.Random(1), lambda _key, _action: None, lambda _key, _deadline: None)
    host.add("eth0", _settings(addresses), 0.0)
    started = time.perf_counter()
    for packet in packets:
        host.receive("eth0", packet.payload, packet.source, packet.ttl, 0.5)
    return (time.perf_counter() - started) / len(packets)


def per_packet(addresses: int, packets: list[ev.PacketReceived]) -> float:
    machine = GroupMachine(_settings(addresses), random.Random(1))
    machine.handle(ev.Started(), 0.0)
    started = time.perf_counter()
    for packet in packets:
        machine.handle(packet, 0.5)
    return (time.perf_counter() - started) / len(packets)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    runner.header(f"forged-advert cost in the core: {PACKETS} packets, {args.runs} runs")
    packets = _forged(PACKETS, random.Random(1))
    rows = [["path", "addresses", "median us/packet", "min", "max", "packets/s per core (median)"]]
    for path, measure in (("machine", per_packet), ("host", per_packet_via_host)):
        for addresses in (1, 4):
            rows.append(
                _row(path, addresses, [measure(addresses, packets) for _ in range(args.runs)])
            )
    print(runner.table(rows))
    runner.footer()
    return 0


def _row(path: str, addresses: int, times: list[float]) -> list[str]:
    median = statistics.median(times)
    return [
        path,
        str(addresses),
        f"{median * 1e6:.2f}",
        f"{min(times) * 1e6:.2f}",
        f"{max(times) * 1e6:.2f}",
        f"{1 / median:,.0f}",
    ]


if __name__ == "__main__":
    raise SystemExit(main())
