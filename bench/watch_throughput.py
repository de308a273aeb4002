"""How fast ``pycarp watch --pcap`` gets through a capture, and whether memory stays bounded.

Builds a capture in a temporary directory: ``--groups`` CARP groups (vhids 1..N), each with a
master advertising every second and a gratuitous ARP for its two addresses, for ``--seconds``
seconds, plus, if ``--bad`` is given, that share of adverts with a wrong digest. Then runs the
watcher on it ``--runs`` times (with the passphrase, so digests are checked) and prints the
fastest wall time, the packets per second and the peak resident memory. Pure computation: no
lab, no root.

    .venv/bin/python bench/watch_throughput.py [--groups 50] [--seconds 600] [--runs 3]
"""

from __future__ import annotations

import argparse
import ipaddress
import pathlib
import random
import resource
import tempfile
import time

from pycarp import pcap
from pycarp.lab import craft
from pycarp.watch.watcher import Watcher

START = 1_800_000_000.0


def build(path: pathlib.Path, groups: int, seconds: int, bad: float) -> int:
    rng = random.Random(1)
    records: list[tuple[float, bytes]] = []
    for vhid in range(1, groups + 1):
        source = ipaddress.IPv4Address(f"198.51.100.{vhid % 250 + 1}")
        mac = f"02:00:00:00:{vhid // 256:02x}:{vhid % 256:02x}"
        vips = [ipaddress.IPv4Address(f"203.0.113.{(2 * vhid + i) % 256}") for i in range(2)]
        records += [(START + vhid / 1000, craft.gratuitous_arp(mac, a)) for a in vips]
        for second in range(seconds):
            key = b"wrong" if rng.random() < bad else b"secret"
            payload = craft.carp_payload(vhid=vhid, counter=second, passphrase=key, addresses=vips)
            packet = craft.ipv4_packet(payload, source)
            records.append((START + second + vhid / 1000, craft.ethernet(mac, packet)))
    records.sort()
    craft.write_pcap(path, records)
    return len(records)


def run(path: pathlib.Path) -> float:
    started = time.perf_counter()
    watcher = Watcher(passphrases={None: [b"secret"]})
    with path.open("rb") as stream:
        for record in pcap.read_records(stream):
            watcher.feed_frame(record.timestamp, record.linktype, record.data, record.frame)
    report = watcher.finish()
    assert len(report.groups) > 0
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=600)
    parser.add_argument("--bad", type=float, default=0.0, help="share of wrong digests")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp) / "many.pcap"
        count = build(path, args.groups, args.seconds, args.bad)
        size = path.stat().st_size
        best = min(run(path) for _ in range(args.runs))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{count} frames ({size / 1e6:.1f} MB), {args.groups} groups, {args.seconds} s")
    print(f"fastest of {args.runs}: {best:.2f} s = {count / best:,.0f} frames/s")
    print(f"peak RSS of the whole process (capture building included): {peak:.0f} MiB")


if __name__ == "__main__":
    main()
