"""Which passphrase and address set, in which recipe, reproduce a CARP advert's digest.

The addresses a group covers are hashed but never sent, so a failing digest has three possible
causes: the passphrase, the address set, or the recipe (kernel: all addresses; ucarp: one).
Given passphrases and candidate address sets (operator's ``--addr``, and the addresses the
group's MACs announced by ARP/ND), :class:`DigestChecker` finds the first combination that
verifies, so the report can say "verifies over this set, in this form" rather than "bad".

Passphrases follow the ``ifconfig ... pass`` rule: only the first 19 bytes count
(:func:`usable_key`). A longer passphrase is also tried at 20 bytes (what a key set through
netlink/ioctl, or an older pycarp, would use), and the verdict says which of the two matched.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable, Sequence

from pycarp.core.auth import KEY_LEN, PASSPHRASE_BYTES_USED, SignatureMode, Signer, passphrase_key
from pycarp.core.constants import IPAddress

IFCONFIG_KEY_LEN = PASSPHRASE_BYTES_USED  # strlcpy(key, pass, 20): 19 bytes and the NUL
KERNEL_KEY_LEN = KEY_LEN  # CARP_KEY_LEN, only reachable through netlink/ioctl
MAX_CANDIDATE_ADDRESSES = 32  # per group: bounds the work a hostile ARP flood can cause


def keys_to_try(passphrase: bytes) -> list[bytes]:
    keys = [passphrase_key(passphrase)]
    if len(passphrase) > IFCONFIG_KEY_LEN:
        keys.append(passphrase[:KERNEL_KEY_LEN])
    return keys


class Form(enum.Enum):
    KERNEL = "kernel"  # all addresses (identical to ucarp for one IPv4 address)
    UCARP = "ucarp"  # one address of several
    NONE = "none"  # no passphrase/address combination verifies
    NO_ADDRESSES = "no-addresses"  # a passphrase, but no address set to try
    UNCHECKED = "unchecked"  # no passphrase given for this vhid


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    form: Form
    addresses: tuple[IPAddress, ...] = ()
    source: str = ""  # where the address set came from: "--addr" or "announced"
    key_bytes: int = 0  # 19 or 20: how much of the passphrase made it verify

    def as_json(self) -> dict[str, object]:
        return {
            "form": self.form.value,
            "addresses": [str(a) for a in self.addresses],
            "source": self.source or None,
            "key_bytes": self.key_bytes or None,
        }

    def summary(self) -> str:
        over = ", ".join(str(a) for a in self.addresses)
        key = (
            f" (first {self.key_bytes} passphrase bytes)"
            if self.key_bytes == KERNEL_KEY_LEN
            else ""
        )
        if self.form is Form.KERNEL:
            return f"verifies, kernel form over {{{over}}} ({self.source}){key}"
        if self.form is Form.UCARP:
            return f"verifies, ucarp form over {over} alone ({self.source}){key}"
        if self.form is Form.NO_ADDRESSES:
            return "not checked: no address set known (give --addr, or capture the ARP too)"
        if self.form is Form.NONE:
            return "does NOT verify with any passphrase and address set given or seen"
        return "not checked (no passphrase)"


UNCHECKED = Verdict(form=Form.UNCHECKED)
UNVERIFIED = Verdict(form=Form.NONE)
NO_ADDRESSES = Verdict(form=Form.NO_ADDRESSES)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Candidate:
    addresses: tuple[IPAddress, ...]
    source: str


def candidates(
    given: Sequence[tuple[IPAddress, ...]],
    announced: Iterable[frozenset[IPAddress]],
    configured: Sequence[tuple[IPAddress, ...]] = (),
) -> list[Candidate]:
    """The operator's sets first (``--addr``, then ``--config``), then each announced set
    that differs from them."""
    found = [Candidate(addresses=tuple(s), source="--addr") for s in given if s]
    found += [Candidate(addresses=tuple(s), source="--config") for s in configured if s]
    for addresses in announced:
        ordered = tuple(sorted(addresses, key=lambda a: (a.version, a.packed)))
        if all(set(c.addresses) != addresses for c in found):
            found.append(Candidate(addresses=ordered[:MAX_CANDIDATE_ADDRESSES], source="announced"))
    return found


class DigestChecker:
    """Verifies (counter, digest) pairs of one vhid; signers are built once per combination."""

    def __init__(self, vhid: int, passphrases: Sequence[bytes]) -> None:
        self.vhid = vhid
        self._keys = [key for p in passphrases for key in keys_to_try(p)]
        self._signers: dict[tuple[bytes, tuple[IPAddress, ...], SignatureMode], Signer] = {}

    @property
    def has_keys(self) -> bool:
        return bool(self._keys)

    def _signer(self, key: bytes, addresses: tuple[IPAddress, ...], mode: SignatureMode) -> Signer:
        index = (key, addresses, mode)
        signer = self._signers.get(index)
        if signer is None:
            signer = self._signers[index] = Signer(key, self.vhid, addresses, mode)
        return signer

    def verdict(self, counter: bytes, digest: bytes, sets: Sequence[Candidate]) -> Verdict:
        """Kernel form over each candidate set first, then ucarp form over each address."""
        if not self._keys:
            return UNCHECKED
        if not sets:
            return NO_ADDRESSES
        for key in self._keys:
            for candidate in sets:
                if self._signer(key, candidate.addresses, SignatureMode.KERNEL).verify(
                    counter, digest
                ):
                    return Verdict(
                        form=Form.KERNEL,
                        addresses=candidate.addresses,
                        source=candidate.source,
                        key_bytes=len(key),
                    )
        for key in self._keys:
            for candidate in sets:
                for address in candidate.addresses:
                    single = (address,)
                    if self._signer(key, single, SignatureMode.UCARP).verify(counter, digest):
                        return Verdict(
                            form=Form.UCARP,
                            addresses=single,
                            source=candidate.source,
                            key_bytes=len(key),
                        )
        return UNVERIFIED
