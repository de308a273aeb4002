"""What ``pycarp watch`` can find: a stable code, a severity, evidence and one line of advice.

The codes are an interface (scripts match on them, docs/watch.md lists them): never renamed.
Severity decides the exit status: any finding of ``warning`` or worse makes it 1.
"""

from __future__ import annotations

import dataclasses
import enum


class Severity(enum.IntEnum):
    INFO = 0
    WARNING = 1
    ERROR = 2

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclasses.dataclass(frozen=True, slots=True)
class Kind:
    code: str
    severity: Severity
    advice: str


SPLIT_BRAIN = Kind(
    "split-brain",
    Severity.ERROR,
    "Two nodes were master at once: they do not hear each other's adverts; check the link or "
    "switch between them, multicast filtering (IGMP snooping) and the passphrase/address set.",
)
ADVBASE_MISMATCH = Kind(
    "advbase-mismatch",
    Severity.WARNING,
    "Senders of one group advertise different base intervals; configure the same advbase "
    "(VRRP: advert interval) on every node, or failover times will be uneven.",
)
ADDRESS_SET_MISMATCH = Kind(
    "address-set-mismatch",
    Severity.ERROR,
    "The digests verify over different address sets for different senders; give every node "
    "of the group the same virtual addresses.",
)
WRONG_PASSPHRASE = Kind(
    "digest-unverified",
    Severity.ERROR,
    "No given passphrase and address set reproduces this sender's digest; check its "
    "passphrase (only the first 19 bytes count) and its address list, or pass --addr.",
)
TTL_NOT_255 = Kind(
    "ttl-not-255",
    Severity.ERROR,
    "Multicast adverts must arrive with TTL/hop limit 255 and receivers drop the others; "
    "the packet crossed a router or something rewrote it: put the nodes on one segment.",
)
VHID_COLLIDES = Kind(
    "vhid-vrrp-collision",
    Severity.WARNING,
    "A CARP vhid equals a VRRP router id here: both use protocol 112, the same group and the "
    "same virtual MAC 00:00:5e:00:01:<id>; give one of them another id.",
)
MASTER_SILENT = Kind(
    "master-adverts-late",
    Severity.WARNING,
    "The master's adverts were late or missing before another node took over; look for a "
    "stalled, overloaded or crashed master, or loss on its link.",
)
TAKEOVER_WHILE_ADVERTISING = Kind(
    "takeover-while-master-advertising",
    Severity.WARNING,
    "A backup took over although the master kept advertising on time: the backup is not "
    "receiving the master's adverts (loss, filtering, wrong passphrase on the backup).",
)
UCARP_FORM = Kind(
    "ucarp-form-digest",
    Severity.WARNING,
    "This sender signs over one address (ucarp form) in a group with several addresses; "
    "kernel CARP peers reject it: give ucarp one address per vhid, or use one form everywhere.",
)
LONG_KEY = Kind(
    "passphrase-over-19-bytes",
    Severity.WARNING,
    "This sender keys its digest with 20 passphrase bytes, but ifconfig (FreeBSD, OpenBSD) "
    "and ucarp use only the first 19: such peers reject it; use a passphrase of 19 bytes at most.",
)
BOW_OUT = Kind(
    "bow-out",
    Severity.INFO,
    "A master gave up the group on purpose (advbase/advskew 255, or VRRP priority 0), e.g. on "
    "shutdown; nothing to do if that was planned.",
)
MASTER_DEMOTED = Kind(
    "master-demoted",
    Severity.WARNING,
    "The master advertises a demotion (a failed interface, check or maintenance); a healthier "
    "node takes over only if it preempts: fix the cause or hand over deliberately.",
)
MALFORMED = Kind(
    "malformed-advert",
    Severity.WARNING,
    "Protocol-112 packets that are neither valid CARP nor VRRP arrived (bad checksum, "
    "version, length); find the sender: a broken implementation or a forger.",
)

ALL_KINDS = (
    SPLIT_BRAIN,
    ADVBASE_MISMATCH,
    ADDRESS_SET_MISMATCH,
    WRONG_PASSPHRASE,
    TTL_NOT_255,
    VHID_COLLIDES,
    MASTER_SILENT,
    TAKEOVER_WHILE_ADVERTISING,
    UCARP_FORM,
    LONG_KEY,
    BOW_OUT,
    MASTER_DEMOTED,
    MALFORMED,
)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Evidence:
    """A packet that shows it: capture frame number (live: count of packets seen) and time."""

    frame: int
    time: float
    source: str
    note: str = ""

    def as_json(self) -> dict[str, object]:
        return {"frame": self.frame, "time": self.time, "source": self.source, "note": self.note}


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    kind: Kind
    group: str  # "carp 5 ipv4", "vrrp 5 ipv4", or "" for the segment
    message: str
    evidence: tuple[Evidence, ...] = ()
    key: str = ""  # what makes it the same finding again (live output reports each key once)

    @property
    def code(self) -> str:
        return self.kind.code

    @property
    def severity(self) -> Severity:
        return self.kind.severity

    def as_json(self) -> dict[str, object]:
        return {
            "code": self.code,
            "severity": self.severity.label,
            "group": self.group,
            "message": self.message,
            "advice": self.kind.advice,
            "evidence": [e.as_json() for e in self.evidence],
        }
