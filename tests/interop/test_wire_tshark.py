"""pycarp's adverts as tshark decodes them: every field, the checksum and the digest.

tshark is the independent decoder here: nothing of pycarp's own wire or auth code is used to
check what pycarp sent. Three groups advertise at once on three hosts of one lab: one
address; three addresses given in unsorted order; IPv6 and IPv4 mixed (IPv6 first on the
command line). The digest is recomputed from the captured fields with the kernel recipe, the
message built byte by byte: 0x02 0x01 vhid, IPv4 addresses sorted as numbers, IPv6 addresses
sorted, the 8 counter bytes as sent.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import ipaddress
import itertools
import pathlib
import subprocess
import time
import typing

import pytest

from pycarp.lab import Lab
from pycarp.lab.capture import AdvertCapture
from pycarp.lab.daemons import LAB_PASSPHRASE, pycarp_args, start_pycarp, wait_for

FIELDS = (
    "ip.src",
    "ip.dst",
    "ip.ttl",
    "ip.proto",
    "ip.len",
    "ip.dsfield.dscp",
    "carp.version",
    "carp.type",
    "carp.vhid",
    "carp.advskew",
    "carp.authlen",
    "carp.demotion",
    "carp.adver_int",
    "carp.checksum",
    "carp.checksum.status",
    "carp.counter",
    "carp.hmac",
)
CHECKSUM_GOOD = "1"  # tshark's PROTO_CHECKSUM_E_GOOD: it verified the checksum itself
ADVERTS_EACH = 2


@dataclasses.dataclass(frozen=True)
class Group:
    node: str
    vhid: int
    advbase: int
    advskew: int
    addresses: tuple[str, ...]  # as given on the command line


GROUPS = (
    Group("h1", 7, 1, 0, ("198.51.100.100/24",)),
    Group("h2", 42, 1, 37, ("198.51.100.130/24", "198.51.100.102/24", "198.51.100.115/24")),
    Group("h3", 200, 2, 200, ("2001:db8::180/64", "198.51.100.140/24", "2001:db8::100/64")),
)
IDS = ["one-address", "three-unsorted", "ipv6-and-ipv4"]

Row = dict[str, str]


def tshark_rows(pcap: pathlib.Path) -> list[Row]:
    """Every packet of the capture, decoded as CARP by tshark, one dict of FIELDS each."""
    argv = ["tshark", "-r", str(pcap), "-d", "ip.proto==112,carp", "-T", "fields"]
    for field in FIELDS:
        argv += ["-e", field]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True)
    return [dict(zip(FIELDS, line.split("\t"), strict=True)) for line in done.stdout.splitlines()]


@pytest.fixture(scope="module")
def captured(interop_ready: None, tmp_path_factory: pytest.TempPathFactory) -> list[Row]:
    """Run the three groups until each master has sent a few adverts; tshark's view of them."""
    workdir = tmp_path_factory.mktemp("wire")
    pcap = workdir / "adverts.pcap"
    with Lab.create(hosts=3) as lab, AdvertCapture(lab, pcap) as capture:
        for group in GROUPS:
            args = pycarp_args(
                lab,
                group.node,
                vhid=group.vhid,
                addresses=group.addresses,
                advbase=group.advbase,
                advskew=group.advskew,
            )
            start_pycarp(lab, group.node, args, workdir=workdir)
        sources = {str(lab.ipv4(group.node).ip) for group in GROUPS}

        def enough() -> bool:
            seen = [advert.source for advert in capture.adverts()]
            return all(seen.count(source) >= ADVERTS_EACH for source in sources)

        wait_for(enough, timeout=20, interval=0.2)
        time.sleep(0.1)  # tcpdump writes each packet at once (-U); let the last one land
    return tshark_rows(pcap)


def ones_complement_sum(data: bytes) -> int:
    total = sum(int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def kernel_digest(vhid: int, addresses: typing.Iterable[str], counter: bytes) -> bytes:
    """The FreeBSD/OpenBSD recipe, written out: version, type, vhid, sorted v4, sorted v6."""
    ips = [ipaddress.ip_interface(address).ip for address in addresses]
    v4 = sorted(int(ip) for ip in ips if ip.version == 4)
    v6 = sorted(ip.packed for ip in ips if ip.version == 6)
    message = bytes([0x02, 0x01, vhid])
    message += b"".join(number.to_bytes(4, "big") for number in v4)
    message += b"".join(v6)
    message += counter
    return hmac.new(LAB_PASSPHRASE.encode(), message, hashlib.sha1).digest()


@pytest.mark.parametrize("group", GROUPS, ids=IDS)
def test_adverts_match_the_configuration(captured: list[Row], group: Group) -> None:
    source = f"198.51.100.{group.node[1:]}"  # the lab's host address: never a virtual one
    rows = [row for row in captured if row["carp.vhid"] == str(group.vhid)]
    assert len(rows) >= ADVERTS_EACH, f"tshark saw {len(rows)} adverts for vhid {group.vhid}"
    expected = {
        "ip.src": source,
        "ip.dst": "224.0.0.18",
        "ip.ttl": "255",
        "ip.proto": "112",
        "ip.len": str(20 + 36),
        "ip.dsfield.dscp": "56",  # CS7, FreeBSD's default
        "carp.version": "2",
        "carp.type": "1",
        "carp.advskew": str(group.advskew),
        "carp.authlen": "7",
        "carp.demotion": "0",
        "carp.adver_int": str(group.advbase),
        "carp.checksum.status": CHECKSUM_GOOD,
    }
    for row in rows:
        assert {key: row[key] for key in expected} == expected
        counter = int(row["carp.counter"]).to_bytes(8, "big")
        digest = bytes.fromhex(row["carp.hmac"].replace(":", ""))
        assert digest == kernel_digest(group.vhid, group.addresses, counter)
        # The checksum, recomputed from tshark's fields: the 36 bytes must sum to 0xffff.
        payload = bytes([0x21, group.vhid, group.advskew, 7, 0, group.advbase])
        payload += int(row["carp.checksum"], 16).to_bytes(2, "big") + counter + digest
        assert ones_complement_sum(payload) == 0xFFFF
    # One random start, then one more per advert (receivers can tell a replay).
    counters = [int(row["carp.counter"]) for row in rows]
    assert all((b - a) % 2**64 == 1 for a, b in itertools.pairwise(counters)), counters


def test_digest_covers_sorted_addresses_not_command_line_order(captured: list[Row]) -> None:
    """Guards the recipe above: hashing in configuration order would not verify."""
    for group in GROUPS[1:]:
        row = next(row for row in captured if row["carp.vhid"] == str(group.vhid))
        counter = int(row["carp.counter"]).to_bytes(8, "big")
        digest = bytes.fromhex(row["carp.hmac"].replace(":", ""))
        ips = [ipaddress.ip_interface(address).ip for address in group.addresses]
        unsorted = bytes([0x02, 0x01, group.vhid]) + b"".join(ip.packed for ip in ips) + counter
        wrong = hmac.new(LAB_PASSPHRASE.encode(), unsorted, hashlib.sha1).digest()
        assert digest != wrong
