"""pycarp's VRRPv3 adverts as tshark decodes them: every field and both checksum forms.

tshark is the independent decoder: nothing of pycarp's codec is used to judge what pycarp
sent. Four daemons advertise at once, each alone in its VRID (so each becomes active): IPv4
with the pseudo-header checksum (the default, keepalived's and FreeBSD's), IPv4 with RFC 9568's
form (``--vrrp-checksum rfc9568``), IPv6, and IPv6 with ``rfc9568`` set (which changes nothing:
IPv6 always has the pseudo-header). tshark verifies the IPv4 checksum with the pseudo-header
by default and without it with ``-o vrrp.v3_checksum_as_in_v2:TRUE``; each form must verify
in exactly the reading it was sent for.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import pathlib
import subprocess
import time

import pytest

from pycarp.lab import Lab
from pycarp.lab.capture import AdvertCapture
from pycarp.lab.daemons import start_pycarp, wait_for
from pycarp.lab.naming import HOST_INTERFACE

FIELDS = (
    "ip.src",
    "ipv6.src",
    "ip.ttl",
    "ipv6.hlim",
    "vrrp.version",
    "vrrp.type",
    "vrrp.virt_rtr_id",
    "vrrp.prio",
    "vrrp.addr_count",
    "vrrp.short_adver_int",
    "vrrp.checksum.status",
    "vrrp.ip_addr",
    "vrrp.ipv6_addr",
)
GOOD, BAD = "1", "0"  # tshark's PROTO_CHECKSUM_E_GOOD / _BAD
ADVERTS_EACH = 3
AS_IN_V2 = ("-o", "vrrp.v3_checksum_as_in_v2:TRUE")  # RFC 9568's IPv4 reading


@dataclasses.dataclass(frozen=True)
class Group:
    node: str
    tag: str
    family: int
    vrid: int
    priority: int
    interval: str  # seconds, as on the command line
    addresses: tuple[str, ...]
    checksum: str  # --vrrp-checksum


GROUPS = (
    Group("h1", "", 4, 7, 200, "0.1", ("198.51.100.100/24",), "pseudo-header"),
    Group(
        "h2",
        "",
        4,
        42,
        100,
        "0.25",
        ("198.51.100.130/24", "198.51.100.102/24", "198.51.100.115/24"),
        "rfc9568",
    ),
    Group("h3", "", 6, 200, 254, "0.2", ("2001:db8::180/64", "2001:db8::100/64"), "pseudo-header"),
    Group("h3", "-b", 6, 201, 1, "0.15", ("2001:db8::181/64",), "rfc9568"),
)
IDS = ["ipv4-pseudo-header", "ipv4-rfc9568", "ipv6", "ipv6-rfc9568-setting"]

Row = dict[str, str]


def tshark_rows(pcap: pathlib.Path, *options: str) -> list[Row]:
    argv = ["tshark", "-r", str(pcap), *options, "-d", "ip.proto==112,vrrp", "-T", "fields"]
    for field in FIELDS:
        argv += ["-e", field]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True)
    return [dict(zip(FIELDS, line.split("\t"), strict=True)) for line in done.stdout.splitlines()]


def source_of(lab: Lab, group: Group) -> str:
    node = group.node
    return str(lab.ipv4(node).ip if group.family == 4 else lab.ipv6(node).ip)


@pytest.fixture(scope="module")
def captured(
    interop_ready: None, tmp_path_factory: pytest.TempPathFactory
) -> tuple[list[Row], list[Row], dict[int, str]]:
    """tshark's two readings of the capture, and each VRID's source address."""
    workdir = tmp_path_factory.mktemp("vrrp-wire")
    pcap = workdir / "adverts.pcap"
    with Lab.create(hosts=3) as lab, AdvertCapture(lab, pcap) as capture:
        sources = {g.vrid: source_of(lab, g) for g in GROUPS}
        for group in GROUPS:
            args = ["-i", HOST_INTERFACE, "-s", sources[group.vrid], "-v", str(group.vrid)]
            for address in group.addresses:
                args += ["-a", address]
            args += ["--vrrp3", "--priority", str(group.priority), "--interval", group.interval]
            args += ["--vrrp-checksum", group.checksum]
            start_pycarp(lab, group.node, args, workdir=workdir, passphrase=None, tag=group.tag)

        def enough() -> bool:
            seen = [(a.source, a.advert.vrid) for a in capture.vrrp_adverts()]
            return all(seen.count((sources[g.vrid], g.vrid)) >= ADVERTS_EACH for g in GROUPS)

        wait_for(enough, timeout=20, interval=0.2)
        time.sleep(0.1)  # tcpdump writes each packet at once (-U); let the last one land
    return tshark_rows(pcap), tshark_rows(pcap, *AS_IN_V2), sources


def _of(rows: list[Row], group: Group, source: str) -> list[Row]:
    return [
        r
        for r in rows
        if r["vrrp.virt_rtr_id"] == str(group.vrid) and source in (r["ip.src"], r["ipv6.src"])
    ]


@pytest.mark.parametrize("group", GROUPS, ids=IDS)
def test_tshark_decodes_every_field_as_configured(
    captured: tuple[list[Row], list[Row], dict[int, str]], group: Group
) -> None:
    rows, _, sources = captured
    mine = _of(rows, group, sources[group.vrid])
    assert len(mine) >= ADVERTS_EACH
    listed = sorted(str(ipaddress.ip_interface(a).ip) for a in group.addresses)
    interval_cs = str(round(float(group.interval) * 100))
    for row in mine:
        assert (row["vrrp.version"], row["vrrp.type"]) == ("3", "1")
        assert row["vrrp.prio"] == str(group.priority)
        assert row["vrrp.short_adver_int"] == interval_cs
        assert row["vrrp.addr_count"] == str(len(group.addresses))
        addresses = row["vrrp.ip_addr"] if group.family == 4 else row["vrrp.ipv6_addr"]
        # Sent in configuration order; compared as sets (tshark joins them with commas).
        assert sorted(str(ipaddress.ip_address(a)) for a in addresses.split(",")) == listed
        ttl = row["ip.ttl"] if group.family == 4 else row["ipv6.hlim"]
        assert ttl == "255"


@pytest.mark.parametrize("group", GROUPS, ids=IDS)
def test_each_checksum_form_verifies_in_the_reading_it_was_sent_for(
    captured: tuple[list[Row], list[Row], dict[int, str]], group: Group
) -> None:
    default, as_in_v2, sources = captured
    statuses = {r["vrrp.checksum.status"] for r in _of(default, group, sources[group.vrid])}
    v2_statuses = {r["vrrp.checksum.status"] for r in _of(as_in_v2, group, sources[group.vrid])}
    if group.family == 6:  # the pseudo-header always, whatever --vrrp-checksum says
        assert statuses == {GOOD}
    elif group.checksum == "pseudo-header":
        assert (statuses, v2_statuses) == ({GOOD}, {BAD})
    else:
        assert (statuses, v2_statuses) == ({BAD}, {GOOD})
