"""``pycarp decode``: hex and pcap input, digest checks both ways, exit codes, clean errors.

Captures are built here with struct (this file needs no capture files); the CARP payloads are
the real ucarp ones from ``tests/vectors`` (their 192.0.2.x addresses are only HMAC data).
"""

from __future__ import annotations

import ipaddress
import json
import pathlib
import struct
from typing import Any

import pytest

from pycarp import pcap
from pycarp.cli import decode
from pycarp.cli.main import main as pycarp_main
from pycarp.core import wire
from pycarp.core.auth import SignatureMode, compute_digest

VECTORS = pathlib.Path(__file__).resolve().parent.parent / "vectors"
ENTRIES: list[dict[str, Any]] = json.loads((VECTORS / "ucarp_v4.json").read_text())
FIRST = ENTRIES[0]  # pass "secret", vhid 1, vaddr 192.0.2.100, from 192.0.2.11
PAYLOAD = bytes.fromhex(FIRST["carp_payload_hex"])
IP_HEADER = bytes.fromhex(FIRST["ip_header_hex"])
VRRP3 = bytes.fromhex("313396010064d366c0000265")  # keepalived 2.2.7, keepalived_vrrp3_v4.txt

SRC6 = ipaddress.IPv6Address("2001:db8::11")
GROUP6 = ipaddress.IPv6Address("ff02::12")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = decode.main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def ipv4(
    payload: bytes,
    *,
    ttl: int = 255,
    protocol: int = 112,
    options: bytes = b"",
    source: str = "198.51.100.11",
    destination: str = "224.0.0.18",
) -> bytes:
    header_len = 20 + len(options)
    fields = (0x40 | header_len // 4, 0x10, header_len + len(payload), 0, 0x4000, ttl, protocol)
    header = struct.pack("!BBHHHBBH4s4s", *fields, 0, _v4(source), _v4(destination)) + options
    checksum = struct.pack("!H", wire.internet_checksum(header))
    return header[:10] + checksum + header[12:] + payload


def _v4(text: str) -> bytes:
    return ipaddress.IPv4Address(text).packed


def ipv6(payload: bytes, *, hop_limit: int = 255, next_header: int = 112) -> bytes:
    header = struct.pack("!IHBB", 0x60000000, len(payload), next_header, hop_limit)
    return header + SRC6.packed + GROUP6.packed + payload


def ethernet(packet: bytes, ethertype: int = 0x0800, vlans: tuple[int, ...] = ()) -> bytes:
    frame = bytes.fromhex("01005e000012") + bytes.fromhex("00005e000001")
    for vlan in vlans:
        frame += struct.pack("!HH", 0x8100, vlan)
    frame += struct.pack("!H", ethertype) + packet
    return frame.ljust(60, b"\x00")  # Ethernet minimum frame: padding after short packets


def linux_cooked(packet: bytes, ethertype: int = 0x0800) -> bytes:
    return struct.pack("!HHH8sH", 0, 1, 6, bytes(8), ethertype) + packet


def linux_cooked_v2(packet: bytes, ethertype: int = 0x0800) -> bytes:
    return struct.pack("!HHIHBB8s", ethertype, 0, 2, 1, 0, 6, bytes(8)) + packet


def pcap_file(
    frames: list[bytes], linktype: int = 1, *, endian: str = "<", nanoseconds: bool = False
) -> bytes:
    magic = 0xA1B23C4D if nanoseconds else 0xA1B2C3D4
    data = struct.pack(f"{endian}IHHiIII", magic, 2, 4, 0, 0, 65535, linktype)
    for index, frame in enumerate(frames):
        fraction = 500_000_000 if nanoseconds else 500_000
        header = struct.pack(
            f"{endian}IIII", 1_800_000_000 + index, fraction, len(frame), len(frame)
        )
        data += header + frame
    return data


def write(tmp_path: pathlib.Path, content: bytes, name: str = "capture.pcap") -> str:
    path = tmp_path / name
    path.write_bytes(content)
    return str(path)


# -- hex input ------------------------------------------------------------------------------


def test_a_bare_payload_decodes(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, PAYLOAD.hex())
    assert code == 0
    assert err == ""
    assert out.startswith("36-byte payload\n")
    assert "vhid 1, advbase 1, advskew 0 (every 1.000 s)" in out
    assert f"counter {FIRST['decoded']['counter']} " in out
    assert FIRST["decoded"]["md"] in out
    assert "checksum 0x36bb (ok)" in out
    assert "digest check" not in out


def test_tcpdump_style_hex_with_spaces_and_colons(capsys: pytest.CaptureFixture[str]) -> None:
    text = PAYLOAD.hex()
    words = [text[i : i + 4] for i in range(0, len(text), 4)]
    code, out, _ = run(capsys, *words[:5], ":".join(words[5:]))
    assert code == 0
    assert FIRST["decoded"]["md"] in out
    assert run(capsys, "0x" + text.upper())[0] == 0


def test_a_whole_ipv4_packet_shows_source_and_ttl(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, (IP_HEADER + PAYLOAD).hex())
    assert code == 0
    assert out.startswith("192.0.2.11 -> 224.0.0.18 ttl 255\n")
    assert "note: TTL" not in out


def test_ipv4_options_are_skipped(capsys: pytest.CaptureFixture[str]) -> None:
    packet = ipv4(PAYLOAD, options=b"\x94\x04\x00\x00")  # router alert
    code, out, _ = run(capsys, packet.hex())
    assert code == 0
    assert FIRST["decoded"]["md"] in out


def test_openbsd_sub_second_advert_with_a_demote_count(
    capsys: pytest.CaptureFixture[str],
) -> None:
    adv = wire.decode(PAYLOAD)
    openbsd = wire.encode(
        wire.Advertisement(
            vhid=adv.vhid, advbase=0, advskew=25, counter=adv.counter, digest=adv.digest, demote=3
        )
    )
    code, out, _ = run(capsys, openbsd.hex())
    assert code == 0
    assert "advbase 0, advskew 25 (every 0.098 s, sub-second: OpenBSD's advbase 0)" in out
    assert "demote 3 (OpenBSD's demote count" in out
    code, out, _ = run(capsys, openbsd.hex(), "--json")
    carp = json.loads(out)["carp"]
    assert (carp["advbase"], carp["demote"], carp["interval"]) == (0, 3, 25 / 256)


def test_a_ttl_other_than_255_is_pointed_out(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, ipv4(PAYLOAD, ttl=64).hex())
    assert code == 0
    assert "ttl 64" in out
    assert "note: TTL 64, not 255" in out


def test_a_whole_ipv6_packet(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, ipv6(PAYLOAD, hop_limit=254).hex(), "--json")
    assert code == 0
    document = json.loads(out)
    assert (document["source"], document["destination"], document["ttl"]) == (
        "2001:db8::11",
        "ff02::12",
        254,
    )


def test_json_fields_match_the_independent_decoding(capsys: pytest.CaptureFixture[str]) -> None:
    for entry in ENTRIES[:3] + ENTRIES[12:13]:
        packet = bytes.fromhex(entry["ip_header_hex"] + entry["carp_payload_hex"])
        code, out, _ = run(capsys, packet.hex(), "--json")
        assert code == 0
        document = json.loads(out)
        expected = entry["decoded"]
        carp = document["carp"]
        assert carp["vhid"] == expected["vhid"]
        assert carp["advbase"] == expected["advbase"]
        assert carp["advskew"] == expected["advskew"]
        assert carp["authlen"] == expected["authlen"]
        assert carp["demote"] == expected["pad1"]
        assert carp["counter"] == expected["counter"]
        assert carp["digest"] == expected["md"]
        assert carp["checksum"] == expected["cksum"]
        assert carp["interval"] == expected["advbase"] + expected["advskew"] / 256
        assert document["source"] == entry["src_ip"]
        assert document["ttl"] == entry["ttl"]
        assert document["error"] is None
        assert document["digest_check"] is None
        assert document["frame"] is None


# -- digest checks --------------------------------------------------------------------------


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e["carp_payload_hex"][16:24])
def test_every_vector_verifies_or_not_as_recorded(
    entry: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    args = [entry["carp_payload_hex"], "--pass", entry["passphrase"], "--addr", entry["vaddr"]]
    code, out, _ = run(capsys, *args)
    if entry["expect"] == "valid":
        assert code == 0
        assert f"verifies in kernel mode and in ucarp mode (over {entry['vaddr']})" in out
    else:
        assert code == 1
        assert "does NOT verify, in neither kernel nor ucarp mode" in out


def _signed(addresses: list[str], mode: SignatureMode) -> str:
    parsed = [ipaddress.ip_address(a) for a in addresses]
    counter = 12345
    digest = compute_digest(b"k3y", 9, parsed, counter.to_bytes(8, "big"), mode)
    adv = wire.Advertisement(vhid=9, advbase=1, advskew=0, counter=counter, digest=digest)
    return wire.encode(adv).hex()


TWO = ["198.51.100.20", "2001:db8::20"]


def test_kernel_digest_over_several_addresses(capsys: pytest.CaptureFixture[str]) -> None:
    payload = _signed(TWO, SignatureMode.KERNEL)
    code, out, _ = run(capsys, payload, "--pass", "k3y", "--addr", TWO[1], "--addr", TWO[0])
    assert code == 0
    assert "verifies in kernel mode (all 2 addresses), not in ucarp mode" in out


def test_ucarp_digest_in_a_multi_address_group(capsys: pytest.CaptureFixture[str]) -> None:
    payload = _signed(TWO[1:], SignatureMode.UCARP)
    code, out, _ = run(capsys, payload, "--pass", "k3y", "--addr", TWO[0], "--addr", TWO[1])
    assert code == 0
    assert "verifies in ucarp mode only (over 2001:db8::20 alone)" in out
    code, out, _ = run(
        capsys, payload, "--pass", "k3y", "--addr", TWO[0], "--addr", TWO[1], "--json"
    )
    assert json.loads(out)["digest_check"] == {
        "verifies": True,
        "kernel": False,
        "ucarp": ["2001:db8::20"],
    }


def test_wrong_passphrase_exits_one_with_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, PAYLOAD.hex(), "--pass", "Secret", "--addr", "192.0.2.100", "--json")
    assert code == 1
    assert json.loads(out)["digest_check"] == {"verifies": False, "kernel": False, "ucarp": []}


def test_passfile(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    secret = write(tmp_path, b"secret\nsecond line is ignored\n", "pass")
    code, out, _ = run(capsys, PAYLOAD.hex(), "--passfile", secret, "--addr", "192.0.2.100")
    assert code == 0
    assert "verifies in kernel mode" in out


def test_a_long_passphrase_counts_its_first_19_bytes_like_bsd_ifconfig(
    capsys: pytest.CaptureFixture[str],
) -> None:
    typed = "0123456789abcdefghijEXTRA"
    digest = compute_digest(typed[:19].encode(), 9, [ipaddress.ip_address(TWO[0])], bytes(8))
    adv = wire.Advertisement(vhid=9, advbase=1, advskew=0, counter=0, digest=digest)
    code, _, err = run(capsys, wire.encode(adv).hex(), "--pass", typed, "--addr", TWO[0])
    assert code == 0
    assert "passphrase is 25 bytes; only the first 19 count" in err
    # Signed with all 20 bytes (a raw key): the typed passphrase cannot verify it.
    digest = compute_digest(typed[:20].encode(), 9, [ipaddress.ip_address(TWO[0])], bytes(8))
    adv = wire.Advertisement(vhid=9, advbase=1, advskew=0, counter=0, digest=digest)
    code, _, _ = run(capsys, wire.encode(adv).hex(), "--pass", typed, "--addr", TWO[0])
    assert code == 1
    code, _, err = run(
        capsys, wire.encode(adv).hex(), "--key-hex", typed[:20].encode().hex(), "--addr", TWO[0]
    )
    assert (code, err) == (0, "")


def test_key_hex_verifies_the_independent_vector(capsys: pytest.CaptureFixture[str]) -> None:
    """The Rust implementation's vector (a pure digest: these addresses carry no traffic)."""
    digest = bytes.fromhex("9c40a9b81097cdc55868afcef20fdb5415c55709")
    adv = wire.Advertisement(
        vhid=7, advbase=1, advskew=0, counter=0x0001020304050607, digest=digest
    )
    addresses = ["--addr", "192.0.2.10", "--addr", "10.0.0.9", "--addr", "10.0.0.1"]
    key = "0102030405060708090a0b0c0d0e0f1011121314"
    code, out, _ = run(capsys, wire.encode(adv).hex(), "--key-hex", key, *addresses)
    assert code == 0
    assert "verifies in kernel mode (all 3 addresses), not in ucarp mode" in out
    code, _, err = run(capsys, wire.encode(adv).hex(), "--key-hex", key, "--pass", "x", *addresses)
    assert code == 2
    assert "error: argument --pass: not allowed with argument --key-hex" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--pass", "secret"], "give them with --addr"),
        (["--addr", "192.0.2.100"], "--addr is only used to check the digest"),
        (["--pass", "secret", "--addr", "not-an-address"], "--addr: not-an-address"),
        (["--pass", "", "--addr", "192.0.2.100"], "the passphrase is empty"),
        (["--passfile", "/nonexistent/pycarp-pass", "--addr", "192.0.2.100"], "--passfile"),
    ],
)
def test_credential_mistakes_exit_two(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, PAYLOAD.hex(), *argv)
    assert code == 2
    assert out == ""
    assert err.startswith("pycarp decode: error: ")
    assert message in err
    assert err.count("\n") == 1


# -- bad input ------------------------------------------------------------------------------


def _corrupt_checksum() -> str:
    data = bytearray(PAYLOAD)
    data[7] ^= 0x01
    return data.hex()


def _short_total_length() -> str:
    packet = bytearray(ipv4(PAYLOAD))
    packet[2:4] = (10).to_bytes(2, "big")
    return packet.hex()


def _vrrp2() -> str:
    header = struct.pack("!BBBBBBH", 0x21, 51, 100, 1, 0, 1, 0)
    body = header + bytes((198, 51, 100, 1)) + bytes(8)
    checksum = struct.pack("!H", wire.internet_checksum(body))
    return (body[:6] + checksum + body[8:]).hex()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["21zz"], "not hexadecimal: 'z' at position 3"),
        (["210"], "odd number of hex digits (3)"),
        (["0x"], "no hex given"),
        ([PAYLOAD.hex()[:-2]], "35 bytes: expected a 36-byte CARP payload"),
        ([PAYLOAD.hex() + "00"], "37 bytes: expected a 36-byte CARP payload"),
        ([VRRP3.hex()[:-2]], "not a valid VRRPv3 advertisement: 11 bytes do not hold 1 IPv4"),
        ([_vrrp2()], "not a CARP advertisement: VRRP version 2 packet"),
        ([ipv4(VRRP3).hex()], "not a valid VRRPv3 advertisement: checksum verifies in neither"),
        ([_corrupt_checksum()], "not a CARP advertisement: checksum does not verify"),
        ([ipv4(PAYLOAD, protocol=6).hex()], "IPv4 packet of protocol 6, not 112"),
        ([ipv6(PAYLOAD, next_header=17).hex()], "IPv6 packet of protocol 17, not 112"),
        ([(IP_HEADER + PAYLOAD)[:15].hex()], "looks like an IP packet, but: truncated IPv4"),
        ([ipv6(PAYLOAD)[:30].hex()], "looks like an IP packet, but: truncated IPv6"),
        ([_short_total_length()], "IPv4 total length 10 is shorter than its header"),
        ([ipv4(PAYLOAD[:20]).hex()], "not a CARP advertisement: 20 bytes"),
        ([], "give either HEX or --pcap FILE"),
        ([PAYLOAD.hex(), "--pcap", "x.pcap"], "give either HEX or --pcap FILE"),
    ],
)
def test_bad_input_gets_one_line_and_exit_two(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert err.startswith("pycarp decode: error: ")
    assert message in err
    assert err.count("\n") == 1


def test_help_explains_and_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for phrase in ("usage: pycarp decode", "--pcap FILE", "kernel mode", "ucarp mode", "--json"):
        assert phrase in out
    assert "1: decoded, but the digest does not verify" in out


def test_unknown_option_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--frobnicate")
    assert code == 2
    assert "unrecognized arguments: --frobnicate" in err


def test_reached_through_the_pycarp_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert pycarp_main(["decode", PAYLOAD.hex()]) == 0
    assert FIRST["decoded"]["md"] in capsys.readouterr().out


# -- pcap input -----------------------------------------------------------------------------


def _mixed_capture() -> list[bytes]:
    """Frame 1 ARP, 2 CARP, 3 UDP, 4 VRRPv3 (padded), 5 CARP in a VLAN, 6 CARP over IPv6."""
    second = bytes.fromhex(ENTRIES[1]["carp_payload_hex"])
    return [
        ethernet(bytes(28), ethertype=0x0806),
        ethernet(IP_HEADER + PAYLOAD),
        ethernet(ipv4(b"\x00" * 12, protocol=17)),
        ethernet(ipv4(VRRP3)),
        ethernet(ipv4(second), vlans=(100,)),
        ethernet(ipv6(PAYLOAD), ethertype=0x86DD),
    ]


def test_pcap_reader_yields_only_protocol_112(tmp_path: pathlib.Path) -> None:
    path = pathlib.Path(write(tmp_path, pcap_file(_mixed_capture())))
    with path.open("rb") as stream:
        packets = list(pcap.read_packets(stream))
    assert [p.frame for p in packets] == [2, 4, 5, 6]
    assert [p.timestamp for p in packets] == [
        1_800_000_001.5,
        1_800_000_003.5,
        1_800_000_004.5,
        1_800_000_005.5,
    ]
    assert packets[0].packet.payload == PAYLOAD
    assert packets[1].packet.payload == VRRP3  # Ethernet padding trimmed by the IP length
    assert packets[3].packet.source == SRC6


def test_pcap_human_output(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, pcap_file(_mixed_capture()))
    code, out, err = run(capsys, "--pcap", path, "--pass", "secret", "--addr", "192.0.2.100")
    assert code == 0  # the VRRP packet is listed, but does not change the status
    assert err == ""
    assert "frame 2, 2027-01-15T08:00:01.500000Z, 192.0.2.11 -> 224.0.0.18 ttl 255" in out
    assert "frame 4" in out
    # Its checksum was made for another source address: neither form verifies.
    assert "not a valid VRRPv3 advertisement: checksum verifies in neither form" in out
    assert "frame 6" in out
    assert "2001:db8::11 -> ff02::12" in out
    assert out.count("digest check: verifies") == 3
    assert out.rstrip().endswith(
        "4 protocol-112 packets: 3 CARP advertisements (3 verify, 0 do not), "
        "1 neither CARP nor VRRPv3"
    )


def test_pcap_json_and_a_failing_digest(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, pcap_file(_mixed_capture()))
    code, out, _ = run(capsys, "--pcap", path, "--pass", "wrong", "--addr", "192.0.2.100", "--json")
    assert code == 1
    document = json.loads(out)
    assert [p["frame"] for p in document] == [2, 4, 5, 6]
    assert document[1]["carp"] is None
    assert document[1]["error"] == {
        "reason": "bad_checksum",
        "detail": "checksum verifies in neither form",
    }
    assert document[2]["carp"]["counter"] == ENTRIES[1]["decoded"]["counter"]
    assert document[0]["time"] == 1_800_000_001.5
    assert all(p["digest_check"]["verifies"] is False for p in document if p["carp"])


def test_pcap_without_passphrase_summary(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, pcap_file([ethernet(IP_HEADER + PAYLOAD)]))
    code, out, _ = run(capsys, "--pcap", path)
    assert code == 0
    assert out.rstrip().endswith("1 protocol-112 packet: 1 CARP advertisement")


@pytest.mark.parametrize(
    ("linktype", "wrap"),
    [
        (pcap.LINKTYPE_LINUX_SLL, linux_cooked),
        (pcap.LINKTYPE_LINUX_SLL2, linux_cooked_v2),
        (pcap.LINKTYPE_RAW, lambda packet: packet),
        (pcap.LINKTYPE_IPV4, lambda packet: packet),
    ],
)
def test_other_link_types(
    linktype: int, wrap: Any, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frames = [wrap(IP_HEADER + PAYLOAD)]
    if linktype in (pcap.LINKTYPE_LINUX_SLL, pcap.LINKTYPE_LINUX_SLL2):
        frames.append(wrap(bytes(28), 0x0806))  # ARP: skipped
    path = write(tmp_path, pcap_file(frames, linktype))
    code, out, _ = run(capsys, "--pcap", path, "--json")
    assert code == 0
    [packet] = json.loads(out)
    assert packet["carp"]["digest"] == FIRST["decoded"]["md"]


@pytest.mark.parametrize("endian", ["<", ">"])
@pytest.mark.parametrize("nanoseconds", [False, True])
def test_byte_orders_and_timestamp_precisions(
    endian: str, nanoseconds: bool, tmp_path: pathlib.Path
) -> None:
    content = pcap_file([ethernet(IP_HEADER + PAYLOAD)], endian=endian, nanoseconds=nanoseconds)
    path = pathlib.Path(write(tmp_path, content))
    with path.open("rb") as stream:
        [packet] = pcap.read_packets(stream)
    assert packet.timestamp == 1_800_000_000.5
    assert packet.packet.payload == PAYLOAD


def test_mangled_and_short_frames_are_skipped(tmp_path: pathlib.Path) -> None:
    frames = [
        b"\x01\x02",  # shorter than an Ethernet header
        ethernet(b"\x45\x00", ethertype=0x0800)[:16],  # truncated IPv4 header
        ethernet(b"\x75" + bytes(30)),  # "IP version 7"
        ethernet(IP_HEADER + PAYLOAD),
    ]
    path = pathlib.Path(write(tmp_path, pcap_file(frames)))
    with path.open("rb") as stream:
        assert [p.frame for p in pcap.read_packets(stream)] == [4]


def test_parse_ip_rejects_nothing() -> None:
    with pytest.raises(pcap.PcapError, match="empty packet"):
        pcap.parse_ip(b"")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x0a\x0d\x0d\x0a" + bytes(40), "pcapng file; convert it first: editcap -F pcap"),
        (b"\xa1\xb2", "not a pcap file: 2 bytes"),
        (bytes(24), "not a pcap file (magic 00000000)"),
        (pcap_file([ethernet(IP_HEADER + PAYLOAD)])[:-5], "file ends inside record 1"),
        (pcap_file([ethernet(IP_HEADER + PAYLOAD)]) + bytes(5), "inside the header of record 2"),
        (pcap_file([IP_HEADER + PAYLOAD], linktype=105), "link type 105 is not supported"),
        (pcap_file([ethernet(ipv4(b"x" * 36, protocol=6))]), "no IP protocol 112 packets"),
        (pcap_file([ethernet(ipv4(VRRP3))]), None),  # only a broken VRRPv3 advert
    ],
)
def test_bad_capture_files_exit_two(
    content: bytes, message: str | None, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, content)
    code, out, err = run(capsys, "--pcap", path)
    assert code == 2
    if message is None:
        assert "not a valid VRRPv3 advertisement: checksum verifies in neither form" in out
        assert "1 protocol-112 packet: 0 CARP advertisements, 1 neither CARP nor VRRPv3" in out
    else:
        assert out == ""
        assert message in err
        assert err.count("\n") == 1


def test_missing_capture_file(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--pcap", str(tmp_path / "absent.pcap"))
    assert code == 2
    absent = tmp_path / "absent.pcap"
    assert err == f"pycarp decode: error: cannot read {absent}: No such file or directory\n"


# -- VRRPv3 ---------------------------------------------------------------------------------

KEEPALIVED = VECTORS / "keepalived"


def test_vrrp3_capture_from_keepalived_in_text(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(KEEPALIVED / "v4_vrid2_prio200_int10cs_3addr.pcap")
    code, out, err = run(capsys, "--pcap", path)
    assert (code, err) == (0, "")
    assert "VRRPv3 advertisement (IPv4): VRID 2, priority 200, every 0.10 s (10 cs)" in out
    assert "3 addresses: 198.51.100.102, 198.51.100.103, 198.51.100.104" in out
    assert out.count("ok, with the pseudo-header: keepalived's default, FreeBSD") == 5
    assert "priority 0 (leaving: backups take over after their skew)" in out
    assert "no authentication" in out
    assert out.rstrip().endswith(
        "5 protocol-112 packets: 0 CARP advertisements, 5 VRRPv3 advertisements"
    )


def test_vrrp3_ipv6_capture_in_json(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(KEEPALIVED / "v6_vrid7_prio50_int5cs_2addr.pcap")
    code, out, _ = run(capsys, "--pcap", path, "--json")
    assert code == 0
    first = json.loads(out)[0]
    assert first["carp"] is None
    assert first["vrrp"] == {
        "version": 3,
        "type": 1,
        "vrid": 7,
        "priority": 50,
        "interval_cs": 5,
        "interval": 0.05,
        "addresses": ["2001:db8::109", "2001:db8::10a"],
        "checksum": first["vrrp"]["checksum"],
        "checksum_form": "pseudo-header",
    }


def test_vrrp3_checksum_forms_from_a_whole_packet_and_a_bare_payload(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The keepalived text vector's packet as it was sent (192.0.2.11: checksum data only).
    code, out, _ = run(capsys, ipv4(VRRP3, source="192.0.2.11").hex())
    assert code == 0
    assert "checksum 0xd366 (ok, with the pseudo-header" in out
    # RFC 9568's form: the sum over the message alone.
    unsummed = VRRP3[:6] + bytes(2) + VRRP3[8:]
    rfc = unsummed[:6] + struct.pack("!H", wire.internet_checksum(unsummed)) + unsummed[8:]
    code, out, _ = run(capsys, ipv4(rfc).hex())
    assert code == 0
    assert "ok, RFC 9568's form, without the IPv4 pseudo-header" in out
    code, out, _ = run(capsys, rfc.hex())  # without the IP header, that form can be checked
    assert "ok, RFC 9568's form" in out
    code, out, _ = run(capsys, VRRP3.hex())  # the pseudo-header form cannot
    assert code == 0
    assert "not checked: the pseudo-header needs the IP addresses" in out
