"""The advertisement digest: HMAC-SHA1 over the group's identity, keyed by the passphrase.

Two recipes exist in the wild, and pycarp speaks both (a per-group :class:`SignatureMode`):

* **kernel** (FreeBSD since its 2011 rewrite, OpenBSD): ``0x02 0x01 vhid``, then every distinct
  IPv4 address of the group sorted as 32-bit numbers, then every distinct IPv6 address sorted
  byte-wise (link-local ones without their scope), then the 8 counter bytes as sent.
* **ucarp**: the same, but with exactly one address: ucarp's ``--addr``.

For a group with a single IPv4 address they are the same bytes. For several they differ, which
is why a ucarp node cannot join a kernel group with several addresses. When a digest fails,
:meth:`Signer.explain_mismatch` checks whether the *other* recipe would have verified, so the
log can tell the operator which setting to change instead of just "bad digest".

The passphrase never leaves this module except as the HMAC key; it is never on the wire.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import ipaddress
from collections.abc import Iterable, Sequence

from pycarp.core.constants import IPAddress

KEY_LEN = 20  # CARP_KEY_LEN: FreeBSD truncates longer passphrases to 20 bytes


class SignatureMode(enum.Enum):
    KERNEL = "kernel"
    UCARP = "ucarp"


def normalise_key(passphrase: bytes) -> bytes:
    """The HMAC key: at most 20 bytes, as the kernels use it (NUL padding changes nothing)."""
    return passphrase[:KEY_LEN]


def _plain(address: IPAddress) -> IPAddress:
    """IPv6 link-local addresses are hashed without their scope (``fe80::1%eth0``: ``fe80::1``)."""
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id is not None:
        return ipaddress.IPv6Address(address.packed)
    return address


def kernel_address_bytes(addresses: Iterable[IPAddress]) -> bytes:
    """All addresses in the kernel's order: IPv4 ascending, then IPv6 ascending, each once."""
    plain = {_plain(a) for a in addresses}
    v4 = sorted(a for a in plain if isinstance(a, ipaddress.IPv4Address))
    v6 = sorted(a for a in plain if isinstance(a, ipaddress.IPv6Address))
    return b"".join(a.packed for a in v4) + b"".join(a.packed for a in v6)


def message_prefix(vhid: int, addresses: Sequence[IPAddress], mode: SignatureMode) -> bytes:
    """Everything the HMAC covers except the counter (which changes with every advert)."""
    head = bytes((2, 1, vhid))
    if mode is SignatureMode.UCARP:
        if not addresses:
            raise ValueError("ucarp signature mode needs at least one address")
        return head + _plain(addresses[0]).packed
    return head + kernel_address_bytes(addresses)


def compute_digest(
    passphrase: bytes,
    vhid: int,
    addresses: Sequence[IPAddress],
    counter_bytes: bytes,
    mode: SignatureMode = SignatureMode.KERNEL,
) -> bytes:
    """One-shot digest, for tools and tests; daemons use a :class:`Signer`."""
    return Signer(passphrase, vhid, addresses, mode).sign(counter_bytes)


_SHA1_BLOCK = 64
_IPAD_TABLE = bytes(b ^ 0x36 for b in range(256))  # XOR with the pads, as bytes.translate
_OPAD_TABLE = bytes(b ^ 0x5C for b in range(256))


class Signer:
    """Signs and verifies one group's adverts.

    HMAC (RFC 2104) is ``H(K^opad || H(K^ipad || message))``. The inner hash over the keyed
    pad and the group's fixed prefix, and the outer hash over its keyed pad, are computed
    once; each advert then costs two copies and two short updates, all in C. That is the
    whole cost of rejecting a forged advert, so a flood is cheap (``hmac.HMAC.copy`` wraps
    the same work in Python objects and costs about twice as much).
    """

    __slots__ = ("_addresses", "_inner", "_key", "_outer", "mode", "vhid")

    def __init__(
        self,
        passphrase: bytes,
        vhid: int,
        addresses: Sequence[IPAddress],
        mode: SignatureMode = SignatureMode.KERNEL,
    ) -> None:
        self._key = normalise_key(passphrase)
        self._addresses = tuple(addresses)
        self.vhid = vhid
        self.mode = mode
        padded = self._key.ljust(_SHA1_BLOCK, b"\x00")  # keys are <= 20 bytes: never hashed
        self._inner = hashlib.sha1(padded.translate(_IPAD_TABLE))  # noqa: S324 - CARP: HMAC-SHA1
        self._inner.update(message_prefix(vhid, self._addresses, mode))
        self._outer = hashlib.sha1(padded.translate(_OPAD_TABLE))  # noqa: S324 - as above

    def sign(self, counter_bytes: bytes) -> bytes:
        inner = self._inner.copy()
        inner.update(counter_bytes)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()

    def verify(self, counter_bytes: bytes, digest: bytes) -> bool:
        """Constant-time comparison, so timing reveals nothing about the expected digest."""
        return hmac.compare_digest(self.sign(counter_bytes), digest)

    def explain_mismatch(self, counter_bytes: bytes, digest: bytes) -> str | None:
        """If the digest verifies under the other recipe, say so (and how to fix it)."""
        if len(self._addresses) < 2:  # one address: both recipes hash the same bytes
            return None
        if self.mode is SignatureMode.KERNEL:
            for address in self._addresses:
                other = Signer(self._key, self.vhid, [address], SignatureMode.UCARP)
                if other.verify(counter_bytes, digest):
                    return (
                        f"digest matches ucarp's single-address form (over {address} only): "
                        "set signature mode to ucarp for this group"
                    )
        else:
            other = Signer(self._key, self.vhid, self._addresses, SignatureMode.KERNEL)
            if other.verify(counter_bytes, digest):
                return (
                    "digest matches the kernel's all-addresses form: "
                    "set signature mode to kernel for this group"
                )
        return None
