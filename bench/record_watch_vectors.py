"""Record the `pycarp watch` test captures (root): .venv/bin/python bench/record_watch_vectors.py

Each scenario runs real daemons (pycarp, ucarp, keepalived) in a throwaway lab and captures
the bridge (protocol 112, ARP and ICMPv6) with tcpdump; ``crafted_*`` captures are built with
:mod:`pycarp.lab.craft` for what no daemon of the lab sends. Names on the command line record
only those scenarios. Their PROVENANCE.md says what each one shows; tests/watch/test_vectors.py what
``pycarp watch`` must find in it.
"""

from __future__ import annotations

import ipaddress
import pathlib
import sys
import tempfile
import time
from collections.abc import Callable

from benchlib.peers import start_keepalived
from pycarp.core.auth import SignatureMode
from pycarp.lab import Lab, craft
from pycarp.lab.capture import AdvertCapture
from pycarp.lab.checks import wait_started
from pycarp.lab.daemons import Daemon, pycarp_args, start_pycarp, start_ucarp, wait_for

HERE = pathlib.Path(__file__).resolve().parents[1] / "tests" / "vectors" / "watch"

TWO = ("198.51.100.100/24", "198.51.100.101/24")
ALSO = ("arp", "icmp6")


def _state(daemon: Daemon) -> str:
    states = daemon.states()
    return states[-1] if states else ""


def _master(daemon: Daemon, timeout: float = 12.0) -> None:
    wait_for(lambda: _state(daemon) == "MASTER", timeout, 0.05)


def _pycarp(
    lab: Lab,
    work: pathlib.Path,
    node: str,
    *,
    skew: int,
    addresses: tuple[str, ...] = TWO,
    advbase: int = 1,
    passphrase: str = "secret",
    extra: tuple[str, ...] = (),
) -> Daemon:
    args = pycarp_args(lab, node, addresses=addresses, advskew=skew, advbase=advbase, extra=extra)
    return wait_started(start_pycarp(lab, node, args, workdir=work, passphrase=passphrase))


def kill(lab: Lab, work: pathlib.Path) -> None:
    """pycarp h1 (skew 0) master, h2 (skew 100) backup; h1 killed with SIGKILL."""
    h1 = _pycarp(lab, work, "h1", skew=0)
    _master(h1)
    h2 = _pycarp(lab, work, "h2", skew=100)
    time.sleep(3)
    h1.kill()
    _master(h2)
    time.sleep(2.5)


def stop(lab: Lab, work: pathlib.Path) -> None:
    """As ``kill``, but h1 is stopped with SIGTERM: it bows out (advbase/advskew 255)."""
    h1 = _pycarp(lab, work, "h1", skew=0)
    _master(h1)
    h2 = _pycarp(lab, work, "h2", skew=100)
    time.sleep(3)
    h1.stop()
    _master(h2)
    time.sleep(2.5)


def split(lab: Lab, work: pathlib.Path) -> None:
    """h1 is cut off from h2 by the switch (a partition) for about 5 s, then reconnected."""
    h1 = _pycarp(lab, work, "h1", skew=0)
    _master(h1)
    h2 = _pycarp(lab, work, "h2", skew=100)
    time.sleep(2.5)
    lab.partition(["h1"], ["h2"])
    _master(h2)
    time.sleep(5)
    lab.reconnect()
    time.sleep(3)


def wrong_pass(lab: Lab, work: pathlib.Path) -> None:
    """h2 has another passphrase: neither verifies the other, both are master."""
    h1 = _pycarp(lab, work, "h1", skew=0)
    _master(h1)
    h2 = _pycarp(lab, work, "h2", skew=100, passphrase="not-the-same")
    _master(h2)
    time.sleep(4)


def addresses(lab: Lab, work: pathlib.Path) -> None:
    """h1 has .100 and .101, h2 .100 and .102: the digests differ, both are master."""
    h1 = _pycarp(lab, work, "h1", skew=0)
    _master(h1)
    other = ("198.51.100.100/24", "198.51.100.102/24")
    h2 = _pycarp(lab, work, "h2", skew=100, addresses=other)
    _master(h2)
    time.sleep(4)


def advbase(lab: Lab, work: pathlib.Path) -> None:
    """h1 advertises every 2 s, h2 (the backup) is configured with 1 s; h1 is killed."""
    h1 = _pycarp(lab, work, "h1", skew=0, advbase=2)
    _master(h1)
    h2 = _pycarp(lab, work, "h2", skew=100, advbase=1)
    time.sleep(5)
    h1.kill()
    _master(h2)
    time.sleep(2.5)


def ucarp(lab: Lab, work: pathlib.Path) -> None:
    """pycarp with two addresses (kernel form) and ucarp with one, same vhid and passphrase."""
    h1 = _pycarp(lab, work, "h1", skew=0)
    _master(h1)
    start_ucarp(lab, "h2", workdir=work, advskew=100)
    time.sleep(7)


def keepalived(lab: Lab, work: pathlib.Path) -> None:
    """pycarp vhid 1 and keepalived (VRRPv3) router id 1 on one segment."""
    h1 = _pycarp(lab, work, "h1", skew=0, addresses=("198.51.100.100/24",))
    _master(h1)
    start_keepalived(
        lab, "h2", workdir=work, vhid=1, address="198.51.100.200", priority=200, interval=1.0
    )
    time.sleep(6)


def crafted_openbsd(path: pathlib.Path) -> None:
    """An OpenBSD-like master: constant counter cookie, demote 1 in pad1, some adverts routed
    (TTL 254); plus a protocol-112 packet with a broken checksum."""
    source = ipaddress.IPv4Address("198.51.100.7")
    mac = "00:00:5e:00:01:07"
    vip = ipaddress.IPv4Address("198.51.100.70")
    start = 1_780_000_000.0
    records = [(start, craft.gratuitous_arp(mac, vip))]
    for i in range(6):
        payload = craft.carp_payload(
            vhid=7, counter=0x5EEDC0FFEE123456, passphrase=b"secret", addresses=[vip], demote=1
        )
        packet = craft.ipv4_packet(payload, source, ttl=254 if i >= 4 else 255)
        records.append((start + 0.01 + i, craft.ethernet(mac, packet)))
    broken = bytearray(craft.carp_payload(vhid=7, counter=1, passphrase=b"x", addresses=[vip]))
    broken[6] ^= 0xFF
    bad = ipaddress.IPv4Address("198.51.100.66")
    records.append(
        (start + 2.5, craft.ethernet("02:00:00:00:00:66", craft.ipv4_packet(bytes(broken), bad)))
    )
    craft.write_pcap(path, sorted(records))


def crafted_long_pass(path: pathlib.Path) -> None:
    """Two ucarp-form senders of vhid 9 with a 24-byte passphrase: one keyed with its first 19
    bytes (ifconfig, ucarp), one with its first 20 (a key set through netlink)."""
    passphrase = b"twenty-four-bytes-long!!"
    vip = ipaddress.IPv4Address("198.51.100.90")
    start = 1_780_000_100.0
    records = []
    for n, key_len in ((1, 19), (2, 20)):
        source = ipaddress.IPv4Address(f"198.51.100.{n}")
        records.append(
            (start + 10 * (n - 1) - 0.001, craft.gratuitous_arp(f"02:00:00:00:00:0{n}", vip))
        )
        for i in range(3):
            payload = craft.carp_payload(
                vhid=9,
                counter=1000 * n + i,
                passphrase=passphrase[:key_len],
                addresses=[vip],
                advskew=n,
                mode=SignatureMode.UCARP,
            )
            packet = craft.ipv4_packet(payload, source)
            records.append(
                (start + 10 * (n - 1) + i, craft.ethernet(f"02:00:00:00:00:0{n}", packet))
            )
    craft.write_pcap(path, sorted(records))


LIVE: dict[str, Callable[[Lab, pathlib.Path], None]] = {
    "pycarp_kill": kill,
    "pycarp_stop": stop,
    "pycarp_split": split,
    "pycarp_wrong_pass": wrong_pass,
    "pycarp_addresses": addresses,
    "pycarp_advbase": advbase,
    "ucarp_pycarp": ucarp,
    "keepalived_carp": keepalived,
}
CRAFTED: dict[str, Callable[[pathlib.Path], None]] = {
    "crafted_openbsd": crafted_openbsd,
    "crafted_long_pass": crafted_long_pass,
}


def main(names: list[str]) -> int:
    wanted = names or [*LIVE, *CRAFTED]
    for name in wanted:
        path = HERE / f"{name}.pcap"
        if name in CRAFTED:
            CRAFTED[name](path)
        else:
            with tempfile.TemporaryDirectory() as tmp, Lab.create(hosts=2) as lab:
                work = pathlib.Path(tmp)
                with AdvertCapture(lab, path, also=ALSO):
                    LIVE[name](lab, work)
                    time.sleep(0.2)
        print(f"{name}: {path.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
