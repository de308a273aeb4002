"""The VRRPv3 codec against keepalived 2.2.7's own packets, RFC 9568's checksum form built by
hand, hand-made broken packets and random bytes.

The keepalived captures (``tests/vectors/keepalived``, made in the lab; PROVENANCE.md) carry
keepalived's default IPv4 checksum, with the pseudo-header; there is no ``v3_checksum_as_v2``
capture (2.2.7 does not have the option), so RFC 9568's form is checked against a checksum
computed here independently of the codec, from RFC 1071's definition.
"""

from __future__ import annotations

import ipaddress
import json
import pathlib
import struct
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pycarp.core import vrrpwire
from pycarp.core.stats import DropReason
from pycarp.core.vrrpwire import ChecksumMode, VrrpAdvertisement
from pycarp.core.wire import DecodeError
from pycarp.pcap import CapturedPacket, read_packets

from .support import VECTORS, load_text_vectors

KEEPALIVED = VECTORS / "keepalived"
INDEX: list[dict[str, Any]] = json.loads((KEEPALIVED / "index.json").read_text())["captures"]
V4 = ipaddress.IPv4Address("198.51.100.2")
V6 = ipaddress.IPv6Address("fe80::2")
GROUP4, GROUP6 = vrrpwire.GROUP_V4, vrrpwire.GROUP_V6


def _packets(name: str) -> list[CapturedPacket]:
    with pathlib.Path(KEEPALIVED / name).open("rb") as stream:
        return list(read_packets(stream))


def _sum16(data: bytes) -> int:
    """RFC 1071 written out once more, word by word (not the codec's helper)."""
    if len(data) % 2:
        data += b"\0"
    total = 0
    for index in range(0, len(data), 2):
        total += (data[index] << 8) | data[index + 1]
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _reason(data: bytes, source: Any = V4, mode: ChecksumMode = ChecksumMode.RFC9568) -> Any:
    with pytest.raises(DecodeError) as caught:
        vrrpwire.decode(data, source, None, mode)
    return caught.value.reason


# -- keepalived 2.2.7's packets --------------------------------------------------------------


@pytest.mark.parametrize("capture", INDEX, ids=[c["file"] for c in INDEX])
def test_every_keepalived_packet_decodes_to_its_configuration_and_re_encodes_byte_for_byte(
    capture: dict[str, Any],
) -> None:
    packets = _packets(capture["file"])
    assert len(packets) == capture["packets"]
    for number, captured in enumerate(packets):
        packet = captured.packet
        assert packet.ttl == 255
        assert packet.destination == (GROUP4 if capture["family"] == 4 else GROUP6)
        adv = vrrpwire.decode(packet.payload, packet.source, packet.destination)
        last = number == len(packets) - 1
        assert adv.vrid == capture["vrid"]
        assert adv.priority == (
            0 if last and capture["last_is_priority_0"] else capture["priority"]
        )
        assert adv.interval_cs == capture["interval_cs"]
        assert [str(a) for a in adv.addresses] == capture["addresses"]
        again = vrrpwire.encode(adv, packet.source, packet.destination)
        assert again == packet.payload


@pytest.mark.parametrize("capture", INDEX, ids=[c["file"] for c in INDEX])
def test_keepalived_checksum_form_is_recognised_and_the_other_form_is_a_checksum_drop(
    capture: dict[str, Any],
) -> None:
    for captured in _packets(capture["file"]):
        packet = captured.packet
        form = vrrpwire.checksum_form(packet.payload, packet.source, packet.destination)
        assert form is ChecksumMode.PSEUDO_HEADER
        rfc = ChecksumMode.RFC9568
        if capture["family"] == 4:
            with pytest.raises(DecodeError) as caught:
                vrrpwire.decode(packet.payload, packet.source, packet.destination, rfc)
            assert caught.value.reason is DropReason.BAD_CHECKSUM
            assert "verifies as pseudo-header" in caught.value.detail
        else:  # IPv6 always has the pseudo-header: the setting does not apply
            assert vrrpwire.decode(packet.payload, packet.source, packet.destination, rfc)


def test_the_shared_keepalived_text_vectors_decode() -> None:
    """The capture set's two keepalived packets (192.0.2.x: data only, never configured)."""
    vectors = load_text_vectors("keepalived_vrrp3_v4.txt")
    decoded = [vrrpwire.decode(v.payload, v.source, v.destination) for v in vectors]
    assert [(a.vrid, a.priority, a.interval_cs) for a in decoded] == [
        (51, 150, 100),
        (51, 100, 100),
    ]
    assert all(a.addresses == (ipaddress.IPv4Address("192.0.2.101"),) for a in decoded)


# -- RFC 9568's form, by hand ----------------------------------------------------------------


def test_rfc9568_ipv4_checksum_is_the_message_alone() -> None:
    addresses = (ipaddress.IPv4Address("198.51.100.100"), ipaddress.IPv4Address("198.51.100.101"))
    adv = VrrpAdvertisement(vrid=9, priority=150, interval_cs=10, addresses=addresses)
    data = vrrpwire.encode(adv, V4, GROUP4, ChecksumMode.RFC9568)
    unsummed = struct.pack("!BBBBHH", 0x31, 9, 150, 2, 10, 0) + b"".join(
        a.packed for a in addresses
    )
    assert data == unsummed[:6] + struct.pack("!H", _sum16(unsummed)) + unsummed[8:]
    assert vrrpwire.decode(data, V4, GROUP4, ChecksumMode.RFC9568) == adv
    assert vrrpwire.checksum_form(data, V4, GROUP4) is ChecksumMode.RFC9568
    with pytest.raises(DecodeError) as caught:
        vrrpwire.decode(data, V4, GROUP4, ChecksumMode.PSEUDO_HEADER)
    assert caught.value.reason is DropReason.BAD_CHECKSUM
    assert "verifies as rfc9568" in caught.value.detail


def test_pseudo_header_checksums_by_hand_for_both_families() -> None:
    adv4 = VrrpAdvertisement(
        vrid=1, priority=100, interval_cs=100, addresses=(ipaddress.IPv4Address("198.51.100.9"),)
    )
    message = struct.pack("!BBBBHH", 0x31, 1, 100, 1, 100, 0) + adv4.addresses[0].packed
    pseudo = V4.packed + GROUP4.packed + bytes([0, 112]) + struct.pack("!H", len(message))
    data = vrrpwire.encode(adv4, V4, GROUP4)
    assert data[6:8] == struct.pack("!H", _sum16(pseudo + message))

    adv6 = VrrpAdvertisement(
        vrid=1, priority=100, interval_cs=100, addresses=(ipaddress.IPv6Address("2001:db8::9"),)
    )
    message = struct.pack("!BBBBHH", 0x31, 1, 100, 1, 100, 0) + adv6.addresses[0].packed
    pseudo = V6.packed + GROUP6.packed + struct.pack("!I", len(message)) + bytes([0, 0, 0, 112])
    for mode in ChecksumMode:  # IPv6: the pseudo-header whatever the IPv4 setting says
        data = vrrpwire.encode(adv6, V6, GROUP6, mode)
        assert data[6:8] == struct.pack("!H", _sum16(pseudo + message))


# -- what is refused, and why ----------------------------------------------------------------


def _good(**overrides: Any) -> bytes:
    values: dict[str, Any] = {
        "vrid": 5,
        "priority": 100,
        "interval_cs": 100,
        "addresses": (ipaddress.IPv4Address("198.51.100.100"),),
    }
    values.update(overrides)
    return vrrpwire.encode(VrrpAdvertisement(**values), V4, GROUP4, ChecksumMode.RFC9568)


def _resum(data: bytes) -> bytes:
    unsummed = data[:6] + b"\0\0" + data[8:]
    return unsummed[:6] + struct.pack("!H", _sum16(unsummed)) + unsummed[8:]


def test_broken_packets_are_dropped_with_the_reason_that_fits() -> None:
    good = _good()
    assert _reason(b"") is DropReason.TOO_SHORT
    assert _reason(good[:7]) is DropReason.TOO_SHORT
    assert _reason(good[:-1]) is DropReason.TOO_SHORT  # one address announced, 3 bytes of it
    assert _reason(_resum(bytes([0x21]) + good[1:])) is DropReason.BAD_VERSION  # CARP/VRRPv2
    assert _reason(_resum(bytes([0x32]) + good[1:])) is DropReason.BAD_TYPE
    assert _reason(good[:6] + bytes([good[6] ^ 1]) + good[7:]) is DropReason.BAD_CHECKSUM
    assert _reason(_good(vrid=0)) is DropReason.BAD_VHID
    assert _reason(_good(interval_cs=0)) is DropReason.BAD_INTERVAL
    # An IPv4 message read as IPv6 (16 bytes per address) is too short for its count.
    assert _reason(good, V6) is DropReason.TOO_SHORT


def test_trailing_bytes_are_ignored_and_reserved_bits_do_not_count_in_the_interval() -> None:
    good = _good(interval_cs=4095)
    assert vrrpwire.decode(good + b"pad", V4, None, ChecksumMode.RFC9568).interval_cs == 4095
    reserved = _resum(good[:4] + bytes([good[4] | 0xF0]) + good[5:])
    assert vrrpwire.decode(reserved, V4, None, ChecksumMode.RFC9568).interval_cs == 4095


def test_advertisement_ranges_are_checked_on_construction() -> None:
    four = ipaddress.IPv4Address("198.51.100.1")
    six = ipaddress.IPv6Address("2001:db8::1")
    with pytest.raises(ValueError, match="interval_cs"):
        VrrpAdvertisement(vrid=1, priority=1, interval_cs=4096, addresses=(four,))
    with pytest.raises(ValueError, match="priority"):
        VrrpAdvertisement(vrid=1, priority=256, interval_cs=1, addresses=(four,))
    with pytest.raises(ValueError, match="one family"):
        VrrpAdvertisement(vrid=1, priority=1, interval_cs=1, addresses=(four, six))
    adv = VrrpAdvertisement(vrid=1, priority=1, interval_cs=1, addresses=(six,))
    with pytest.raises(ValueError, match="IPv6 addresses from an IPv4 source"):
        vrrpwire.encode(adv, V4, GROUP4)


@given(st.binary(max_size=80), st.sampled_from([V4, V6]), st.sampled_from(list(ChecksumMode)))
def test_random_bytes_decode_or_raise_decode_error_only(
    data: bytes, source: Any, mode: ChecksumMode
) -> None:
    adv: VrrpAdvertisement | None = None
    reason: object = None
    try:
        adv = vrrpwire.decode(data, source, None, mode)
    except DecodeError as error:
        reason = error.reason
    if adv is None:
        assert isinstance(reason, DropReason)
    else:
        assert (adv.version, adv.type) == (3, 1)
        assert 1 <= adv.vrid <= 255


@given(
    st.integers(1, 255),
    st.integers(0, 255),
    st.integers(1, 4095),
    st.lists(st.integers(0, 2**32 - 1), max_size=20, unique=True),
    st.sampled_from(list(ChecksumMode)),
)
def test_encode_then_decode_is_the_identity(
    vrid: int, priority: int, interval_cs: int, raw: list[int], mode: ChecksumMode
) -> None:
    adv = VrrpAdvertisement(
        vrid=vrid,
        priority=priority,
        interval_cs=interval_cs,
        addresses=tuple(ipaddress.IPv4Address(a) for a in raw),
    )
    assert vrrpwire.decode(vrrpwire.encode(adv, V4, GROUP4, mode), V4, GROUP4, mode) == adv
