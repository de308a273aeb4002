"""The CARP codec against real ucarp packets, hand-made broken ones and random bytes."""

from __future__ import annotations

import struct
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pycarp.core import wire
from pycarp.core.stats import DropReason

from .support import load_json_vectors, load_text_vectors

JSON_VECTORS = load_json_vectors()
CARP_VECTORS = load_text_vectors("ucarp_v4.txt")
VRRP3_VECTORS = load_text_vectors("keepalived_vrrp3_v4.txt")


def _advert(**overrides: Any) -> wire.Advertisement:
    values: dict[str, Any] = {
        "vhid": 9,
        "advbase": 1,
        "advskew": 0,
        "counter": 0x0123456789ABCDEF,
        "digest": bytes(range(20)),
    }
    values.update(overrides)
    return wire.Advertisement(**values)


def _reason(data: bytes) -> DropReason:
    with pytest.raises(wire.DecodeError) as caught:
        wire.decode(data)
    return caught.value.reason


# -- the captured packets -------------------------------------------------------------------


def test_text_and_json_vectors_are_the_same_packets() -> None:
    assert len(CARP_VECTORS) == len(JSON_VECTORS) == 19
    for text, entry in zip(CARP_VECTORS, JSON_VECTORS, strict=True):
        assert text.payload.hex() == entry["carp_payload_hex"]
        assert str(text.source) == entry["src_ip"]
        assert text.group["pass"] == entry["passphrase"]
        assert text.group["vaddr"] == entry["vaddr"]
        assert text.group["expect"] == entry["expect"]


@pytest.mark.parametrize("entry", JSON_VECTORS, ids=lambda e: e["carp_payload_hex"][12:20])
def test_every_captured_packet_decodes_as_recorded(entry: dict[str, Any]) -> None:
    payload = bytes.fromhex(entry["carp_payload_hex"])
    expected = entry["decoded"]
    adv = wire.decode(payload)
    assert len(payload) == expected["len"] == wire.PAYLOAD_LEN
    assert adv.version == expected["version"]
    assert adv.type == expected["type"]
    assert adv.vhid == expected["vhid"]
    assert adv.advskew == expected["advskew"]
    assert adv.authlen == expected["authlen"]
    assert adv.demote == expected["pad1"]
    assert adv.advbase == expected["advbase"]
    assert adv.counter == expected["counter"]
    assert adv.digest.hex() == expected["md"]
    assert adv.counter_bytes == payload[8:16]
    assert f"0x{struct.unpack('!H', payload[6:8])[0]:04x}" == expected["cksum"]
    assert expected["cksum_ok"] is (wire.internet_checksum(payload) == 0)


@pytest.mark.parametrize("packet", CARP_VECTORS, ids=lambda p: p.payload[6:10].hex())
def test_encode_reproduces_every_captured_packet_bit_for_bit(packet: Any) -> None:
    assert wire.encode(wire.decode(packet.payload)) == packet.payload


@pytest.mark.parametrize("packet", VRRP3_VECTORS, ids=lambda p: str(p.source))
def test_keepalived_vrrp3_adverts_are_recognised_as_vrrp(packet: Any) -> None:
    with pytest.raises(wire.DecodeError) as caught:
        wire.decode(packet.payload)
    assert caught.value.reason is DropReason.VRRP
    assert "VRRP version 3" in caught.value.detail


def test_captured_ip_headers_checksum_to_zero() -> None:
    """Known values for the checksum: the kernel-computed IPv4 header checksums of the capture."""
    for entry in JSON_VECTORS:
        header = bytes.fromhex(entry["ip_header_hex"])
        assert wire.internet_checksum(header) == 0
        zeroed = header[:10] + b"\x00\x00" + header[12:]
        assert wire.internet_checksum(zeroed) == struct.unpack("!H", header[10:12])[0]


# -- the checksum ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", 0xFFFF),
        (b"\x00\x00", 0xFFFF),
        (bytes.fromhex("0001f203f4f5f6f7"), 0x220D),  # RFC 1071 section 3 example (sum ddf2)
        (b"\x01", 0xFEFF),  # odd length: padded with a zero byte
        (b"\xff\xff\xff\xff", 0x0000),  # carry folded back in: 0x1fffe -> 0xffff
        (b"\x12\x34\x56", 0x97CB),  # 0x1234 + 0x5600 = 0x6834
    ],
)
def test_internet_checksum_known_values(data: bytes, expected: int) -> None:
    assert wire.internet_checksum(data) == expected


def test_a_checksum_of_ffff_is_the_same_as_zero() -> None:
    """One's complement has two zeros: a sender may write 0xffff where we write 0x0000."""
    base = wire.encode(_advert(digest=bytes(20)))
    # Add the checksum into the last digest word: the other words then sum to 0xffff.
    total = struct.unpack("!H", base[6:8])[0]
    patched = base[:6] + b"\x00\x00" + base[8:34] + struct.pack("!H", total)
    assert wire.internet_checksum(patched) == 0
    alternative = patched[:6] + b"\xff\xff" + patched[8:]
    assert wire.internet_checksum(alternative) == 0
    assert wire.decode(alternative) == wire.decode(patched)
    assert wire.encode(wire.decode(alternative)) == patched


# -- every reason the decoder gives ---------------------------------------------------------


def test_too_short() -> None:
    good = CARP_VECTORS[0].payload
    assert _reason(good[:35]) is DropReason.TOO_SHORT
    assert _reason(b"") is DropReason.TOO_SHORT


def test_bad_checksum() -> None:
    good = bytearray(CARP_VECTORS[0].payload)
    good[20] ^= 0x01
    assert _reason(bytes(good)) is DropReason.BAD_CHECKSUM


@pytest.mark.parametrize("version", [0, 1, 4, 15])
def test_bad_version(version: int) -> None:
    assert _reason(wire.encode(_advert(version=version))) is DropReason.BAD_VERSION


@pytest.mark.parametrize("ptype", [0, 2, 15])
def test_bad_type(ptype: int) -> None:
    assert _reason(wire.encode(_advert(type=ptype))) is DropReason.BAD_TYPE


@pytest.mark.parametrize("authlen", [0, 6, 8, 255])
def test_bad_authlen(authlen: int) -> None:
    assert _reason(wire.encode(_advert(authlen=authlen))) is DropReason.BAD_AUTHLEN


def test_advbase_zero_and_the_demote_byte_decode() -> None:
    # OpenBSD's sub-second mode and its demote count in pad1: a valid advert, both read back.
    adv = wire.decode(wire.encode(_advert(advbase=0, advskew=25, demote=7)))
    assert (adv.advbase, adv.advskew, adv.demote) == (0, 25, 7)
    assert wire.encode(_advert(demote=7))[4] == 7


def test_vhid_zero() -> None:
    assert _reason(wire.encode(_advert(vhid=0))) is DropReason.BAD_VHID


def _vrrp2(addresses: int) -> bytes:
    """A VRRPv2 (RFC 3768) advert: version 2 and type 1 exactly like CARP, different length."""
    header = struct.pack("!BBBBBBH", 0x21, 51, 100, addresses, 0, 1, 0)
    body = b"".join(bytes((198, 51, 100, 10 + i)) for i in range(addresses)) + bytes(8)
    unsummed = header + body
    summed = struct.pack("!H", wire.internet_checksum(unsummed))
    return unsummed[:6] + summed + unsummed[8:]


@pytest.mark.parametrize("addresses", [0, 1, 3, 5, 7])
def test_synthetic_vrrp2_adverts_are_recognised_as_vrrp(addresses: int) -> None:
    """Five addresses make a 36-byte VRRPv2 packet: only the length/count relation tells."""
    packet = _vrrp2(addresses)
    assert len(packet) == 16 + 4 * addresses
    with pytest.raises(wire.DecodeError) as caught:
        wire.decode(packet)
    assert caught.value.reason is DropReason.VRRP
    assert "VRRP version 2" in str(caught.value)


def test_trailing_bytes_after_the_advert_are_ignored() -> None:
    good = CARP_VECTORS[0].payload
    assert wire.decode(good + b"\x00" * 4) == wire.decode(good)


# -- field ranges ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "bad"),
    [
        ("vhid", -1),
        ("vhid", 256),
        ("advbase", 256),
        ("advskew", 256),
        ("advskew", -1),
        ("demote", 256),
        ("version", 16),
        ("type", 16),
        ("authlen", 256),
        ("counter", -1),
        ("counter", 2**64),
    ],
)
def test_advertisement_rejects_out_of_range_fields(field: str, bad: int) -> None:
    with pytest.raises(ValueError, match=f"^{field}={bad} is outside"):
        _advert(**{field: bad})


@pytest.mark.parametrize("length", [0, 19, 21])
def test_advertisement_rejects_a_digest_of_the_wrong_length(length: int) -> None:
    with pytest.raises(ValueError, match="digest must be 20 bytes"):
        _advert(digest=bytes(length))


def test_extreme_in_range_fields_are_accepted() -> None:
    adv = _advert(vhid=255, advbase=255, advskew=255, demote=255, counter=2**64 - 1)
    assert wire.decode(wire.encode(adv)) == adv
    assert adv.counter_bytes == b"\xff" * 8


# -- properties -----------------------------------------------------------------------------

valid_adverts = st.builds(
    wire.Advertisement,
    vhid=st.integers(1, 255),
    advbase=st.integers(1, 255),
    advskew=st.integers(0, 255),
    counter=st.integers(0, 2**64 - 1),
    digest=st.binary(min_size=20, max_size=20),
    demote=st.integers(0, 255),
)


@settings(max_examples=300)
@given(valid_adverts)
def test_decode_inverts_encode(adv: wire.Advertisement) -> None:
    payload = wire.encode(adv)
    assert len(payload) == wire.PAYLOAD_LEN
    assert wire.internet_checksum(payload) == 0
    assert wire.decode(payload) == adv


def _mutations() -> st.SearchStrategy[bytes]:
    """Valid adverts with a few bytes overwritten: gets past the cheap checks more often."""

    def mutate(payload: bytes, edits: list[tuple[int, int]]) -> bytes:
        data = bytearray(payload)
        for offset, value in edits:
            data[offset % len(data)] = value
        return bytes(data)

    edits = st.lists(st.tuples(st.integers(0, 35), st.integers(0, 255)), max_size=3)
    return st.builds(mutate, valid_adverts.map(wire.encode), edits)


@settings(max_examples=500)
@given(st.one_of(st.binary(max_size=80), _mutations()))
def test_any_bytes_decode_or_raise_decode_error_only(data: bytes) -> None:
    outcome: wire.Advertisement | wire.DecodeError
    try:
        outcome = wire.decode(data)
    except wire.DecodeError as error:
        outcome = error
    if isinstance(outcome, wire.DecodeError):
        assert isinstance(outcome.reason, DropReason)
        assert outcome.detail
    else:
        assert wire.encode(outcome)[8:] == data[8:36]
