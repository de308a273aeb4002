"""Regenerate ``tests/vectors/keepalived/``: keepalived's VRRPv3 adverts captured in a lab.

Run as root (it builds a namespace lab, like the interop tests), never by the test suite::

    python -m pycarp.lab.keepalived_vectors tests/vectors/keepalived

Each scenario is one keepalived on its own lab host with one VRRPv3 instance (its own VRID, so
they never meet); tcpdump records protocol 112 on the switch's bridge. Every keepalived becomes
master alone, advertises, and is then stopped with SIGTERM, which makes it send its priority-0
advert. Each scenario's file keeps the first :data:`KEPT` adverts of its host and every
priority-0 one, as classic pcap (Ethernet). ``index.json`` records what each keepalived was
configured with: the values a decoder must read back from the bytes.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import pathlib
import struct
import sys
import tempfile
import time

from pycarp.lab import keepalived
from pycarp.lab.capture import AdvertCapture
from pycarp.lab.daemons import wait_for
from pycarp.lab.keepalived import Instance
from pycarp.lab.lab import Lab
from pycarp.lab.naming import LabError
from pycarp.pcap import read_packets

KEPT = 4  # ordinary adverts kept per scenario (besides the priority-0 ones)
PCAP_HEADER_LEN, RECORD_HEADER_LEN = 24, 16
VRRP_PRIORITY_OFFSET = 2


@dataclasses.dataclass(frozen=True)
class Scenario:
    name: str
    node: str
    instance: Instance


SCENARIOS = (
    Scenario("v4_vrid1_prio100_int100cs_1addr", "h1", Instance(1, ("198.51.100.101/24",), 100)),
    Scenario(
        "v4_vrid2_prio200_int10cs_3addr",
        "h2",
        Instance(2, ("198.51.100.102/24", "198.51.100.103/24", "198.51.100.104/24"), 200, 0.1),
    ),
    Scenario(
        "v4_vrid3_prio254_int25cs_2addr",
        "h3",
        Instance(3, ("198.51.100.105/24", "198.51.100.106/24"), 254, 0.25),
    ),
    Scenario("v4_vrid255_prio1_int50cs_1addr", "h4", Instance(255, ("198.51.100.107/24",), 1, 0.5)),
    Scenario("v6_vrid5_prio100_int100cs_1addr", "h5", Instance(5, ("2001:db8::105/64",), 100)),
    Scenario(
        "v6_vrid6_prio200_int10cs_3addr",
        "h6",
        Instance(6, ("2001:db8::106/64", "2001:db8::107/64", "2001:db8::108/64"), 200, 0.1),
    ),
    Scenario(
        "v6_vrid7_prio50_int5cs_2addr",
        "h7",
        Instance(7, ("2001:db8::109/64", "2001:db8::10a/64"), 50, 0.05),
    ),
)


def capture_all(out: pathlib.Path, work: pathlib.Path) -> list[dict[str, object]]:
    """Run every scenario at once in one lab; write one pcap per scenario into ``out``."""
    raw = work / "all.pcap"
    with Lab.create(hosts=len(SCENARIOS)) as lab, AdvertCapture(lab, raw):
        daemons = [keepalived.start(lab, s.node, [s.instance], workdir=work) for s in SCENARIOS]
        for daemon in daemons:
            wait_for(lambda d=daemon: "MASTER" in d.states(), timeout=15)  # type: ignore[misc]
        time.sleep(KEPT * max(s.instance.interval for s in SCENARIOS) + 1)
        for daemon in daemons:
            if daemon.stop() != 0:
                raise LabError(f"keepalived on {daemon.node} failed:\n{daemon.log()[-2000:]}")
        time.sleep(0.5)  # the last priority-0 adverts reach the capture
        macs = {s.name: lab.mac(s.node) for s in SCENARIOS}
    index = []
    for scenario in SCENARIOS:
        path = out / f"{scenario.name}.pcap"
        count = write_selection(raw, path, macs[scenario.name])
        index.append(describe(scenario, path.name, count))
    return index


def write_selection(source: pathlib.Path, target: pathlib.Path, mac: str) -> int:
    """Copy into ``target`` the first KEPT adverts ``mac`` sent and its priority-0 ones, each
    record byte for byte (its capture header too); the number of packets written."""
    with source.open("rb") as stream:
        sent = [captured for captured in read_packets(stream) if captured.link_source == mac]
    leaving = [c.frame for c in sent if c.packet.payload[VRRP_PRIORITY_OFFSET] == 0]
    ordinary = [c.frame for c in sent if c.frame not in leaving][:KEPT]
    wanted = set(leaving + ordinary)
    data = source.read_bytes()
    kept, offset, frame = [data[:PCAP_HEADER_LEN]], PCAP_HEADER_LEN, 0
    while offset < len(data):  # tcpdump wrote it: this machine's byte order
        frame += 1
        (length,) = struct.unpack_from("=I", data, offset + 8)
        if frame in wanted:
            kept.append(data[offset : offset + RECORD_HEADER_LEN + length])
        offset += RECORD_HEADER_LEN + length
    target.write_bytes(b"".join(kept))
    return len(wanted)


def describe(scenario: Scenario, file: str, count: int) -> dict[str, object]:
    instance = scenario.instance
    return {
        "file": file,
        "packets": count,
        "family": instance.family,
        "vrid": instance.vrid,
        "priority": instance.priority,
        "interval_cs": round(instance.interval * 100),
        "addresses": [address.split("/")[0] for address in instance.addresses],
        "checksum": "pseudo-header" if instance.family == 4 else "ipv6-pseudo-header",
        "last_is_priority_0": True,
        "keepalived": keepalived.config_text(scenario.node, [instance]),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=pathlib.Path, help="directory for the pcap files")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    found = ".".join(map(str, keepalived.version()))
    with tempfile.TemporaryDirectory(prefix="pycarp-kv-") as work:
        index = capture_all(args.out, pathlib.Path(work))
    document = {"keepalived": found, "captures": index}
    (args.out / "index.json").write_text(json.dumps(document, indent=2) + "\n")
    print(f"keepalived {found}: {len(index)} captures in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
