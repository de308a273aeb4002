"""The digest, checked against ucarp's packets and against messages built by hand.

The kernel recipe (protocol.md section 2) is written out byte by byte here, independently of
``pycarp.core.auth``, and fed to :func:`hmac.new`: a bug in the sorting, the de-duplication or
the scope handling shows up as a different digest.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pycarp.core import wire
from pycarp.core.auth import (
    SignatureMode,
    Signer,
    compute_digest,
    kernel_address_bytes,
    message_prefix,
    normalise_key,
)
from pycarp.core.constants import IPAddress

from .support import TextVector, load_text_vectors

VECTORS = load_text_vectors("ucarp_v4.txt")
VALID = [v for v in VECTORS if v.group["expect"] == "valid"]
INVALID = [v for v in VECTORS if v.group["expect"] == "invalid"]

V4 = ipaddress.IPv4Address
V6 = ipaddress.IPv6Address
COUNTER = bytes.fromhex("0102030405060708")


def _check(vector: TextVector, mode: SignatureMode) -> bool:
    adv = wire.decode(vector.payload)
    signer = Signer(
        vector.group["pass"].encode(), int(vector.group["vhid"]), [V4(vector.group["vaddr"])], mode
    )
    return signer.verify(adv.counter_bytes, adv.digest)


def _reference(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha1).digest()


# -- the captured packets -------------------------------------------------------------------


def test_the_vector_file_has_both_kinds() -> None:
    assert len(VALID) == 14
    assert len(INVALID) == 5


@pytest.mark.parametrize("mode", list(SignatureMode))
@pytest.mark.parametrize("vector", VALID, ids=lambda v: v.payload[8:12].hex())
def test_valid_ucarp_packets_verify_in_both_modes(vector: TextVector, mode: SignatureMode) -> None:
    assert _check(vector, mode)


@pytest.mark.parametrize("mode", list(SignatureMode))
@pytest.mark.parametrize("vector", INVALID, ids=lambda v: v.group["pass"] + v.group["vaddr"])
def test_invalid_ucarp_packets_fail_in_both_modes(vector: TextVector, mode: SignatureMode) -> None:
    assert not _check(vector, mode)


@pytest.mark.parametrize("vector", VALID, ids=lambda v: v.payload[8:12].hex())
def test_vector_digest_matches_the_recipe_by_hand(vector: TextVector) -> None:
    adv = wire.decode(vector.payload)
    message = bytes((0x02, 0x01, adv.vhid)) + V4(vector.group["vaddr"]).packed + adv.counter_bytes
    assert _reference(vector.group["pass"].encode(), message) == adv.digest
    for mode in SignatureMode:
        digest = compute_digest(
            vector.group["pass"].encode(),
            adv.vhid,
            [V4(vector.group["vaddr"])],
            adv.counter_bytes,
            mode,
        )
        assert digest == adv.digest


# -- the kernel's multi-address message -----------------------------------------------------

# The group, in a deliberately unhelpful configuration order, with duplicates. By hand:
#   IPv4 sorted as numbers: 198.51.100.3 < 198.51.100.20 < 203.0.113.7 (as strings, .20 < .3)
#   IPv6 sorted byte-wise: 2001:db8::3 < 2001:db8::20 < 2001:db8:1:: < fe80::1 (scope dropped)
GROUP: list[IPAddress] = [
    V6("fe80::1%eth0"),
    V4("203.0.113.7"),
    V6("2001:db8::20"),
    V4("198.51.100.20"),
    V6("2001:db8:1::"),
    V4("198.51.100.3"),
    V6("2001:db8::3"),
    V4("198.51.100.20"),  # duplicate
    V6("fe80::1"),  # the same address as fe80::1%eth0 once the scope is dropped
]
GROUP_MESSAGE_WITHOUT_COUNTER = (
    bytes((0x02, 0x01, 42))
    + bytes((198, 51, 100, 3))
    + bytes((198, 51, 100, 20))
    + bytes((203, 0, 113, 7))
    + bytes.fromhex("20010db8000000000000000000000003")
    + bytes.fromhex("20010db8000000000000000000000020")
    + bytes.fromhex("20010db8000100000000000000000000")
    + bytes.fromhex("fe800000000000000000000000000001")
)


def test_kernel_message_is_built_as_the_recipe_says() -> None:
    assert message_prefix(42, GROUP, SignatureMode.KERNEL) == GROUP_MESSAGE_WITHOUT_COUNTER
    assert kernel_address_bytes(GROUP) == GROUP_MESSAGE_WITHOUT_COUNTER[3:]


def test_kernel_digest_over_many_addresses_matches_hmac_by_hand() -> None:
    expected = _reference(b"s3cret", GROUP_MESSAGE_WITHOUT_COUNTER + COUNTER)
    assert compute_digest(b"s3cret", 42, GROUP, COUNTER) == expected
    assert Signer(b"s3cret", 42, GROUP).verify(COUNTER, expected)


def test_an_independent_implementations_vector_agrees() -> None:
    """A Rust CARP daemon's test vector (../shared/docs/protocol.md section 6): a full 20-byte
    key, three IPv4 addresses configured out of order, a fixed counter. A pure computation:
    nothing is sent to these addresses."""
    key = bytes(range(1, 21))
    addresses = [ipaddress.IPv4Address(a) for a in ("192.0.2.10", "10.0.0.9", "10.0.0.1")]
    counter = bytes.fromhex("0001020304050607")
    expected = bytes.fromhex("9c40a9b81097cdc55868afcef20fdb5415c55709")
    assert compute_digest(key, 7, addresses, counter) == expected
    assert Signer(key, 7, addresses).sign(counter) == expected
    assert Signer(key, 7, addresses).verify(counter, expected)


@settings(max_examples=50)
@given(st.randoms(use_true_random=False))
def test_kernel_digest_ignores_configuration_order(rng: random.Random) -> None:
    shuffled = list(GROUP)
    rng.shuffle(shuffled)
    assert compute_digest(b"s3cret", 42, shuffled, COUNTER) == compute_digest(
        b"s3cret", 42, GROUP, COUNTER
    )


def test_ipv4_only_and_ipv6_only_groups() -> None:
    v4 = [V4("198.51.100.20"), V4("198.51.100.3")]
    v4_message = bytes((2, 1, 5, 198, 51, 100, 3, 198, 51, 100, 20))
    assert compute_digest(b"k", 5, v4, COUNTER) == _reference(b"k", v4_message + COUNTER)
    v6 = [V6("2001:db8::b"), V6("2001:db8::a")]
    v6_message = (
        bytes((2, 1, 5))
        + bytes.fromhex("20010db800000000000000000000000a")
        + bytes.fromhex("20010db800000000000000000000000b")
    )
    assert compute_digest(b"k", 5, v6, COUNTER) == _reference(b"k", v6_message + COUNTER)


def test_link_local_scope_is_not_hashed() -> None:
    scoped = compute_digest(b"k", 5, [V6("fe80::1%eth0")], COUNTER)
    plain = compute_digest(b"k", 5, [V6("fe80::1")], COUNTER)
    by_hand = _reference(b"k", bytes((2, 1, 5)) + V6("fe80::1").packed + COUNTER)
    assert scoped == plain == by_hand
    ucarp = compute_digest(b"k", 5, [V6("fe80::1%eth1")], COUNTER, SignatureMode.UCARP)
    assert ucarp == by_hand


def test_ucarp_mode_hashes_only_the_first_address() -> None:
    addresses = [V4("198.51.100.20"), V4("198.51.100.3")]
    message = bytes((2, 1, 5, 198, 51, 100, 20)) + COUNTER
    assert compute_digest(b"k", 5, addresses, COUNTER, SignatureMode.UCARP) == _reference(
        b"k", message
    )


def test_ucarp_mode_needs_an_address() -> None:
    with pytest.raises(ValueError, match="at least one address"):
        Signer(b"k", 5, [], SignatureMode.UCARP)


# -- the key --------------------------------------------------------------------------------


def test_keys_longer_than_20_bytes_are_truncated() -> None:
    long_key = b"0123456789abcdefghijKLMNOP"
    assert normalise_key(long_key) == long_key[:20]
    message = bytes((2, 1, 5, 198, 51, 100, 3)) + COUNTER
    digest = compute_digest(long_key, 5, [V4("198.51.100.3")], COUNTER)
    assert digest == _reference(long_key[:20], message)
    assert digest != _reference(long_key, message)


def test_nul_padding_the_key_to_20_bytes_changes_nothing() -> None:
    """ucarp pads the key with NULs; HMAC pads short keys with zeros: the same digest."""
    message = bytes((2, 1, 5, 198, 51, 100, 3)) + COUNTER
    assert compute_digest(b"abc", 5, [V4("198.51.100.3")], COUNTER) == _reference(
        b"abc".ljust(20, b"\x00"), message
    )


# -- telling the operator which recipe the peer uses ----------------------------------------

PAIR = [V4("198.51.100.10"), V4("198.51.100.11")]


@pytest.mark.parametrize("address", PAIR)
def test_kernel_group_hearing_a_ucarp_digest_gets_a_hint(address: IPAddress) -> None:
    ucarp_digest = compute_digest(b"k", 5, [address], COUNTER, SignatureMode.UCARP)
    group = Signer(b"k", 5, PAIR, SignatureMode.KERNEL)
    assert not group.verify(COUNTER, ucarp_digest)
    hint = group.explain_mismatch(COUNTER, ucarp_digest)
    assert hint is not None
    assert "set signature mode to ucarp" in hint
    assert str(address) in hint


def test_ucarp_group_hearing_a_kernel_digest_gets_a_hint() -> None:
    kernel_digest = compute_digest(b"k", 5, PAIR, COUNTER, SignatureMode.KERNEL)
    group = Signer(b"k", 5, PAIR, SignatureMode.UCARP)
    assert not group.verify(COUNTER, kernel_digest)
    hint = group.explain_mismatch(COUNTER, kernel_digest)
    assert hint is not None
    assert "set signature mode to kernel" in hint


@pytest.mark.parametrize("mode", list(SignatureMode))
def test_a_wrong_passphrase_gets_no_hint(mode: SignatureMode) -> None:
    for other_mode in SignatureMode:
        wrong = compute_digest(b"other", 5, PAIR, COUNTER, other_mode)
        assert Signer(b"k", 5, PAIR, mode).explain_mismatch(COUNTER, wrong) is None


@pytest.mark.parametrize("mode", list(SignatureMode))
def test_single_address_groups_never_blame_the_recipe(mode: SignatureMode) -> None:
    """With one address both recipes are the same bytes: a failure is something else."""
    wrong = compute_digest(b"other", 5, PAIR[:1], COUNTER)
    assert Signer(b"k", 5, PAIR[:1], mode).explain_mismatch(COUNTER, wrong) is None


def test_verify_rejects_a_digest_for_another_counter() -> None:
    signer = Signer(b"k", 5, PAIR)
    digest = signer.sign(COUNTER)
    assert signer.verify(COUNTER, digest)
    assert not signer.verify(bytes(8), digest)
    assert not signer.verify(COUNTER, digest[:-1] + bytes((digest[-1] ^ 1,)))
