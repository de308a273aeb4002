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

KEY_LEN = 20  # CARP_KEY_LEN: the kernels' key buffer (a raw key set over netlink/ioctl)
# What counts of a typed passphrase: FreeBSD's and OpenBSD's ``ifconfig ... pass`` copy it into
# the 20-byte key with strlcpy (19 bytes and the NUL); ucarp refuses 20 bytes or more.
PASSPHRASE_BYTES_USED = KEY_LEN - 1


class SignatureMode(enum.Enum):
    KERNEL = "kernel"
    UCARP = "ucarp"


def normalise_key(passphrase: bytes) -> bytes:
    """The HMAC key: at most 20 bytes, as the kernels use it (NUL padding changes nothing)."""
    return passphrase[:KEY_LEN]


def passphrase_key(passphrase: bytes) -> bytes:
    """The key a typed passphrase gives: its first 19 bytes, as ``ifconfig ... pass`` keeps.

    A group configured on FreeBSD or OpenBSD with a longer passphrase signs with these bytes
    only, so a peer that used more would never verify. A raw key of up to 20 bytes (netlink,
    ioctl; pycarp's ``key_hex``) is used as it is.
    """
    return passphrase[:PASSPHRASE_BYTES_USED]


def _plain(address: IPAddress) -> IPAddress:
    """IPv6 link-local addresses are hashed without their scope (``fe80::1%eth0``: ``fe80::1``)."""
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id is not None:
        return ipaddress.IPv6Address(address.packed)
    return address


def kernel_address_bytes(addresses: Iterable[IPAddress], *, link_local: bool = True) -> bytes:
    """All addresses in the kernel's order: IPv4 ascending, then IPv6 ascending, each once.

    ``link_local=False`` leaves IPv6 link-local addresses out: the form OpenBSD signs with.
    """
    plain = {_plain(a) for a in addresses if link_local or not _is_ipv6_link_local(a)}
    v4 = sorted(a for a in plain if isinstance(a, ipaddress.IPv4Address))
    v6 = sorted(a for a in plain if isinstance(a, ipaddress.IPv6Address))
    return b"".join(a.packed for a in v4) + b"".join(a.packed for a in v6)


def _is_ipv6_link_local(address: IPAddress) -> bool:
    return isinstance(address, ipaddress.IPv6Address) and address.is_link_local


def message_prefix(
    vhid: int, addresses: Sequence[IPAddress], mode: SignatureMode, *, link_local: bool = True
) -> bytes:
    """Everything the HMAC covers except the counter (which changes with every advert).

    ``link_local=False``: the kernel form without IPv6 link-local addresses (OpenBSD's).
    """
    head = bytes((2, 1, vhid))
    if mode is SignatureMode.UCARP:
        if not addresses:
            raise ValueError("ucarp signature mode needs at least one address")
        return head + _plain(addresses[0]).packed
    return head + kernel_address_bytes(addresses, link_local=link_local)


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

    __slots__ = ("_addresses", "_inner", "_inner_openbsd", "_key", "_outer", "mode", "vhid")

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
        ipad = padded.translate(_IPAD_TABLE)
        self._inner = hashlib.sha1(ipad)  # noqa: S324 - CARP: HMAC-SHA1
        self._inner.update(message_prefix(vhid, self._addresses, mode))
        self._outer = hashlib.sha1(padded.translate(_OPAD_TABLE))  # noqa: S324 - as above
        # OpenBSD signs without the group's IPv6 link-local addresses (and accepts both forms):
        # a kernel-mode group that has one accepts that form too. Only such a group pays the
        # second HMAC for a digest that fails the first.
        self._inner_openbsd = None
        if mode is SignatureMode.KERNEL and any(map(_is_ipv6_link_local, self._addresses)):
            without = message_prefix(vhid, self._addresses, mode, link_local=False)
            self._inner_openbsd = hashlib.sha1(ipad)  # noqa: S324 - as above
            self._inner_openbsd.update(without)

    def sign(self, counter_bytes: bytes) -> bytes:
        """The digest pycarp sends: over every address (FreeBSD's form, which OpenBSD accepts)."""
        return self._finish(self._inner, counter_bytes)

    def sign_openbsd(self, counter_bytes: bytes) -> bytes | None:
        """OpenBSD's form (IPv6 link-local addresses left out); None when it is the same."""
        if self._inner_openbsd is None:
            return None
        return self._finish(self._inner_openbsd, counter_bytes)

    def _finish(self, prefix: hashlib._Hash, counter_bytes: bytes) -> bytes:
        inner = prefix.copy()
        inner.update(counter_bytes)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()

    def verify(self, counter_bytes: bytes, digest: bytes) -> bool:
        """Either kernel form verifies (FreeBSD's, or OpenBSD's without IPv6 link-local
        addresses). Constant-time comparisons: timing reveals nothing about the digest."""
        if hmac.compare_digest(self.sign(counter_bytes), digest):
            return True
        openbsd = self.sign_openbsd(counter_bytes)
        return openbsd is not None and hmac.compare_digest(openbsd, digest)

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
