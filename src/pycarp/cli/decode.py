"""``pycarp decode``: what a CARP (or VRRPv3) advertisement says, and whether it verifies.

The question an operator has when a group will not converge is usually "is the other side
sending what I think, and does my passphrase/address set match it?". This answers it from a hex
dump (``tcpdump -x``, a log line) or a capture file, and says *which* digest recipe matches
(kernel: all addresses; ucarp: one address), since that mismatch is the classic interop trap.

Exit status: 0 decoded (and verified, when a passphrase was given), 1 decoded but the digest
does not verify, 2 bad input or usage (one line on stderr, never a traceback).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import pathlib
import struct
import sys
from collections.abc import Sequence
from typing import Any

from pycarp import pcap
from pycarp.cli import decode_vrrp
from pycarp.config.build import parse_key_hex
from pycarp.config.model import ConfigError, parse_address, read_passfile
from pycarp.core import wire
from pycarp.core.auth import SignatureMode, Signer, passphrase_key
from pycarp.core.constants import CARP_PROTOCOL, CARP_TTL, IPAddress
from pycarp.core.stats import DropReason
from pycarp.core.timing import advertisement_interval

EXIT_OK = 0
EXIT_UNVERIFIED = 1
EXIT_BAD_INPUT = 2

_EPILOG = """\
input:
  HEX is the 36-byte CARP payload, a VRRPv3 payload, or a whole IPv4/IPv6 packet (then the
  source address and TTL are shown too, and a VRRPv3 checksum is checked in both forms:
  with the IPv4 pseudo-header, as keepalived and FreeBSD, or without, as RFC 9568).
  Spaces and colons are ignored, so `tcpdump -x` output can be pasted.
  --pcap reads a classic pcap file (tcpdump -w; Ethernet, VLAN, Linux cooked or raw IP) and
  decodes every IP protocol 112 packet in it (CARP and VRRPv3 share that number).

digest check:
  With --pass/--passfile and the group's virtual addresses (--addr, repeatable) the digest is
  checked both ways: kernel mode (FreeBSD/OpenBSD: all addresses, sorted) and ucarp mode (one
  address, tried with each --addr). For a single address the two are the same. Only the first
  19 bytes of a passphrase count (as BSD `ifconfig ... pass`); --key-hex HEX gives a raw key
  of up to 20 bytes instead (a group keyed over netlink/ioctl).

output and exit status:
  Human-readable text by default; --json prints one object (HEX) or a list (--pcap).
  0: decoded (and the digest verifies, when a passphrase was given)
  1: decoded, but the digest does not verify (for --pcap: of at least one advertisement)
  2: bad input or usage: not hex, wrong length, not CARP or VRRPv3 (bad checksum, ...);
     for --pcap: an unreadable file, or one without any CARP advertisement. Other
     protocol-112 packets in a capture (VRRPv2, ...) are listed but do not change the status.

examples:
  pycarp decode 21010007000136bb8f67ba743698df1ba23b2d15c9fb7b0aebacbed72c67ae94a768076b
  pycarp decode --passfile /etc/carp.pass --addr 198.51.100.10 --pcap carp.pcap
"""


class InputError(Exception):
    """Bad input: the message is the one line printed on stderr."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Credentials:
    passphrase: bytes
    addresses: tuple[IPAddress, ...]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class DigestCheck:
    """Which recipe, if any, reproduces the digest."""

    kernel: bool
    ucarp_over: tuple[IPAddress, ...]  # the --addr values whose single-address digest matches
    addresses: int

    @property
    def verifies(self) -> bool:
        return self.kernel or bool(self.ucarp_over)

    def summary(self) -> str:
        ucarp = ", ".join(str(a) for a in self.ucarp_over)
        if self.kernel and self.ucarp_over:
            return f"verifies in kernel mode and in ucarp mode (over {ucarp})"
        if self.kernel:
            return f"verifies in kernel mode (all {self.addresses} addresses), not in ucarp mode"
        if self.ucarp_over:
            return (
                f"verifies in ucarp mode only (over {ucarp} alone): "
                "a kernel-mode group with all these addresses would reject it"
            )
        return "does NOT verify, in neither kernel nor ucarp mode: passphrase or addresses differ"

    def as_json(self) -> dict[str, Any]:
        return {
            "verifies": self.verifies,
            "kernel": self.kernel,
            "ucarp": [str(a) for a in self.ucarp_over],
        }


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Report:
    """Everything known about one packet, for either output format."""

    payload: bytes
    ip: pcap.IPPacket | None = None
    frame: int | None = None
    timestamp: float | None = None
    advert: wire.Advertisement | None = None
    vrrp: decode_vrrp.VrrpView | None = None
    error: wire.DecodeError | None = None
    check: DigestCheck | None = None

    @property
    def exit_code(self) -> int:
        """The status this packet alone calls for (only decoded adverts count, see _exit_code)."""
        if self.check is not None and not self.check.verifies:
            return EXIT_UNVERIFIED
        return EXIT_OK


def check_digest(adv: wire.Advertisement, credentials: Credentials) -> DigestCheck:
    key, addresses = credentials.passphrase, credentials.addresses
    kernel = Signer(key, adv.vhid, addresses, SignatureMode.KERNEL)
    ucarp_over = tuple(
        address
        for address in addresses
        if Signer(key, adv.vhid, [address], SignatureMode.UCARP).verify(
            adv.counter_bytes, adv.digest
        )
    )
    return DigestCheck(
        kernel=kernel.verify(adv.counter_bytes, adv.digest),
        ucarp_over=ucarp_over,
        addresses=len(addresses),
    )


def inspect(
    payload: bytes,
    credentials: Credentials | None,
    *,
    ip: pcap.IPPacket | None = None,
    frame: int | None = None,
    timestamp: float | None = None,
) -> Report:
    """Decode ``payload`` and, given credentials, check its digest both ways."""
    base = Report(payload=payload, ip=ip, frame=frame, timestamp=timestamp)
    if decode_vrrp.is_vrrp3(payload):
        try:
            return dataclasses.replace(base, vrrp=decode_vrrp.inspect_vrrp(payload, ip))
        except wire.DecodeError as error:
            return dataclasses.replace(base, error=error)
    try:
        adv = wire.decode(payload)
    except wire.DecodeError as error:
        return dataclasses.replace(base, error=error)
    check = None if credentials is None else check_digest(adv, credentials)
    return dataclasses.replace(base, advert=adv, check=check)


# -- input ----------------------------------------------------------------------------------


def parse_hex(words: Sequence[str]) -> bytes:
    text = "".join(words).replace(":", "").replace(" ", "").replace("\t", "").replace("\n", "")
    text = text.removeprefix("0x").removeprefix("0X")
    if not text:
        raise InputError("no hex given")
    for position, char in enumerate(text):
        if char not in "0123456789abcdefABCDEF":
            raise InputError(f"not hexadecimal: {char!r} at position {position + 1}")
    if len(text) % 2:
        raise InputError(f"odd number of hex digits ({len(text)}): a byte is two digits")
    return bytes.fromhex(text)


def payload_from_bytes(data: bytes) -> tuple[bytes, pcap.IPPacket | None]:
    """A bare 36-byte payload, or the payload of a whole IPv4/IPv6 packet (version nibble)."""
    if data[0] >> 4 in (4, 6):
        try:
            ip = pcap.parse_ip(data)
        except pcap.PcapError as error:
            raise InputError(f"looks like an IP packet, but: {error}") from None
        if ip.protocol != CARP_PROTOCOL:
            raise InputError(
                f"IPv{ip.source.version} packet of protocol {ip.protocol}, "
                f"not {CARP_PROTOCOL} (CARP)"
            )
        return ip.payload, ip
    if decode_vrrp.is_vrrp3(data):
        return data, None
    if len(data) != wire.PAYLOAD_LEN:
        try:
            wire.decode(data)
        except wire.DecodeError as error:
            if error.reason is DropReason.VRRP:
                raise InputError(f"not a CARP advertisement: {error.detail}") from None
        raise InputError(
            f"{len(data)} bytes: expected a {wire.PAYLOAD_LEN}-byte CARP payload "
            "or a whole IPv4/IPv6 packet"
        )
    return data, None


def read_credentials(args: argparse.Namespace) -> Credentials | None:
    """The key the daemon would use: a passphrase's first 19 bytes, or the raw --key-hex."""
    if args.passphrase is None and args.passfile is None and args.key_hex is None:
        if args.addr:
            raise InputError(
                "--addr is only used to check the digest: give --pass, --passfile or --key-hex"
            )
        return None
    try:
        if args.key_hex is not None:
            passphrase = key = parse_key_hex("--key-hex", args.key_hex)
        elif args.passfile is not None:
            passphrase = read_passfile("--passfile", args.passfile)
        else:
            passphrase = args.passphrase.encode("utf-8", "surrogateescape")
        addresses = tuple(parse_address("--addr", text).ip for text in args.addr)
    except ConfigError as error:
        raise InputError(str(error)) from None
    if not passphrase:
        raise InputError("--pass: the passphrase is empty")
    if not addresses:
        raise InputError(
            "the digest covers the group's virtual addresses: give them with --addr (repeatable)"
        )
    if args.key_hex is None:
        key = passphrase_key(passphrase)
        if len(passphrase) > len(key):
            print(
                f"pycarp decode: warning: passphrase is {len(passphrase)} bytes; only the first "
                f"{len(key)} count, as with BSD `ifconfig ... pass` (ucarp refuses it); "
                "give --key-hex for a raw key of up to 20 bytes",
                file=sys.stderr,
            )
    return Credentials(passphrase=key, addresses=addresses)


def read_capture(path: str, credentials: Credentials | None) -> list[Report]:
    try:
        with pathlib.Path(path).open("rb") as stream:
            captured = list(pcap.read_packets(stream))
    except OSError as error:
        raise InputError(f"cannot read {path}: {error.strerror}") from None
    except pcap.PcapError as error:
        raise InputError(f"{path}: {error}") from None
    if not captured:
        raise InputError(f"{path}: no IP protocol {CARP_PROTOCOL} packets in it")
    return [
        inspect(c.packet.payload, credentials, ip=c.packet, frame=c.frame, timestamp=c.timestamp)
        for c in captured
    ]


# -- output ---------------------------------------------------------------------------------


def render_text(report: Report) -> str:
    lines = []
    where = []
    if report.frame is not None:
        where.append(f"frame {report.frame}")
    if report.timestamp is not None:
        moment = datetime.datetime.fromtimestamp(report.timestamp, datetime.UTC)
        where.append(moment.isoformat(timespec="microseconds").replace("+00:00", "Z"))
    if report.ip is not None:
        where.append(f"{report.ip.source} -> {report.ip.destination} ttl {report.ip.ttl}")
    lines.append(", ".join(where) if where else f"{len(report.payload)}-byte payload")
    adv = report.advert
    if report.vrrp is not None:
        return "\n".join(lines + decode_vrrp.render_text(report.vrrp, report.payload))
    if adv is None:
        assert report.error is not None
        error = report.error
        what = "a valid VRRPv3" if decode_vrrp.is_vrrp3(report.payload) else "a CARP"
        lines.append(f"  not {what} advertisement: {error.detail} ({error.reason.value})")
        return "\n".join(lines)
    interval = advertisement_interval(adv.advbase, adv.advskew)
    sub_second = ", sub-second: OpenBSD's advbase 0" if adv.advbase == 0 else ""
    demote = f"demote {adv.demote}"
    if adv.demote:
        demote += " (OpenBSD's demote count: ranks behind any lower one, whatever the timing)"
    lines += [
        f"  CARP v{adv.version} advertisement: vhid {adv.vhid}, advbase {adv.advbase}, "
        f"advskew {adv.advskew} (every {interval:.3f} s{sub_second})",
        f"  authlen {adv.authlen}, {demote}, checksum {_checksum(report.payload)} (ok)",
        f"  counter {adv.counter} (0x{adv.counter:016x})",
        f"  digest  {adv.digest.hex()}",
    ]
    if report.ip is not None and report.ip.ttl != CARP_TTL:
        lines.append(
            f"  note: TTL {report.ip.ttl}, not {CARP_TTL}: "
            "multicast receivers drop it (did it cross a router?)"
        )
    if report.check is not None:
        lines.append(f"  digest check: {report.check.summary()}")
    return "\n".join(lines)


def render_json(report: Report) -> dict[str, Any]:
    adv = report.advert
    return {
        "frame": report.frame,
        "time": report.timestamp,
        "source": None if report.ip is None else str(report.ip.source),
        "destination": None if report.ip is None else str(report.ip.destination),
        "ttl": None if report.ip is None else report.ip.ttl,
        "length": len(report.payload),
        "carp": None
        if adv is None
        else {
            "version": adv.version,
            "type": adv.type,
            "vhid": adv.vhid,
            "advbase": adv.advbase,
            "advskew": adv.advskew,
            "authlen": adv.authlen,
            "demote": adv.demote,
            "checksum": _checksum(report.payload),
            "counter": adv.counter,
            "digest": adv.digest.hex(),
            "interval": advertisement_interval(adv.advbase, adv.advskew),
        },
        "vrrp": None
        if report.vrrp is None
        else decode_vrrp.render_json(report.vrrp, report.payload),
        "error": None
        if report.error is None
        else {"reason": report.error.reason.value, "detail": report.error.detail},
        "digest_check": None if report.check is None else report.check.as_json(),
    }


def _checksum(payload: bytes) -> str:
    return f"0x{struct.unpack_from('!H', payload, 6)[0]:04x}"


def _summary(reports: list[Report]) -> str:
    adverts = [r for r in reports if r.advert is not None]
    vrrp = sum(r.vrrp is not None for r in reports)
    text = f"{_count(len(reports), 'protocol-112 packet')}: "
    text += _count(len(adverts), "CARP advertisement")
    if vrrp:
        text += f", {_count(vrrp, 'VRRPv3 advertisement')}"
    checked = [r.check for r in adverts if r.check is not None]
    if checked:
        good = sum(c.verifies for c in checked)
        text += f" ({good} verify, {len(checked) - good} do not)"
    if len(adverts) + vrrp < len(reports):
        text += f", {len(reports) - len(adverts) - vrrp} neither CARP nor VRRPv3"
    return text


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


# -- the command ----------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pycarp decode",
        description="Decode CARP and VRRPv3 advertisements (hex or a pcap file) and check them.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("hex", nargs="*", metavar="HEX", help="payload or IP packet in hex")
    parser.add_argument("--pcap", metavar="FILE", help="decode every protocol-112 packet in FILE")
    secret = parser.add_mutually_exclusive_group()
    secret.add_argument("--pass", dest="passphrase", metavar="PASS", help="the group passphrase")
    secret.add_argument("--passfile", metavar="FILE", help="read the passphrase (first line)")
    secret.add_argument(
        "--key-hex", metavar="HEX", help="the raw key, 1-20 bytes in hex (every byte counts)"
    )
    parser.add_argument(
        "--addr",
        action="append",
        default=[],
        metavar="ADDRESS",
        help="a virtual address of the group (repeat for each)",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    return parser


def main(argv: list[str]) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as leaving:  # --help (0) or a usage error (2): argparse has printed it
        return EXIT_OK if leaving.code in (0, None) else EXIT_BAD_INPUT
    try:
        reports = _collect(args)
    except InputError as error:
        print(f"pycarp decode: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.json:
        document = render_json(reports[0]) if not args.pcap else [render_json(r) for r in reports]
        print(json.dumps(document, indent=1))
    else:
        print("\n\n".join(render_text(r) for r in reports))
        if args.pcap:
            print(f"\n{_summary(reports)}")
    return _exit_code(reports)


def _collect(args: argparse.Namespace) -> list[Report]:
    """One report per packet; bad input (for a single HEX: not CARP) raises InputError."""
    if bool(args.hex) == bool(args.pcap):
        raise InputError("give either HEX or --pcap FILE (see --help)")
    credentials = read_credentials(args)
    if args.pcap:
        return read_capture(args.pcap, credentials)
    payload, ip = payload_from_bytes(parse_hex(args.hex))
    report = inspect(payload, credentials, ip=ip)
    if report.error is not None:
        what = "a valid VRRPv3" if decode_vrrp.is_vrrp3(payload) else "a CARP"
        raise InputError(f"not {what} advertisement: {report.error.detail}")
    return [report]


def _exit_code(reports: list[Report]) -> int:
    """The worst status over the CARP adverts; none at all is bad input."""
    adverts = [r for r in reports if r.advert is not None or r.vrrp is not None]
    return max((r.exit_code for r in adverts), default=EXIT_BAD_INPUT)
