"""Who should be master: compare our advertisement timing with a peer's.

CARP elects by timing alone: whoever advertises more often (smaller ``advbase + advskew/256``,
demotion included in advskew) should be master. What to do with equal timings is where the
implementations differ:

* FreeBSD and OpenBSD: a master that hears an equal timing steps down, so *both* step down and
  whichever master-down timer fires first wins (effectively random).
* ucarp: on equal timing, the host with the **lower source address** stays master, compared
  as ucarp compares them: the raw ``s_addr`` (network-order bytes read as a host integer). On
  the little-endian machines ucarp runs on (x86, ARM), that orders IPv4 addresses by their
  *last* octet first: 198.51.101.3 ranks below 198.51.100.5.

pycarp follows ucarp's rule and ucarp's IPv4 order: it is deterministic (the mission asks for
that), it converges with ucarp peers on any subnet, and it converges with kernel peers too (if
the kernel host ranks lower both step down and the timers decide, after which neither preempts
an equal peer). IPv6 addresses (ucarp has none) rank numerically, after every IPv4 address.
Without both addresses there is no tie to break: the master steps down, as the kernels do.

**OpenBSD's demote byte** (``pad1``) is compared *before* timing: the advert with the lower
demote count ranks better whatever its timing (a master steps down to it; a backup takes over
from a master whose count is higher, even without preempt). FreeBSD and ucarp always send 0
there and never read it. pycarp reads it always and compares it with the byte *it sends*: 0 when
its demotion goes into advskew (FreeBSD style), its demotion when it goes into the byte
(OpenBSD style). Every node that reads the byte then orders adverts by the same key
``(demote, timing)``; one that does not (FreeBSD, ucarp) orders by timing alone, and for any
pair the two orders never both call themselves the better one (a node only ranks ahead on a
lower byte when the other sent a higher one, which the byte-blind node never sends), so two
masters never both stand their ground: mixed groups converge on one master.

At **advbase 0** the "bound to time out" rule (DEPARTING) is skipped, as OpenBSD skips it (our
master-down is a fraction of a second, so every slower peer would qualify), except for the
explicit bow-out advert (advbase 255, advskew 255): that one says "I am leaving" in so many words.
"""

from __future__ import annotations

import enum

from pycarp.core.constants import IPAddress
from pycarp.core.table import Input
from pycarp.core.timing import (
    BOW_OUT_ADVBASE,
    BOW_OUT_ADVSKEW,
    MAX_WIRE_ADVSKEW,
    SUB_SECOND_ADVBASE,
    election_time,
    master_down_interval,
)


class Verdict(enum.Enum):
    """A valid advertisement, classified against our own timing. These are machine inputs."""

    FASTER = "faster"  # the peer ranks better (lower demote byte, or strictly faster timing)
    EQUAL_PEER_WINS = "equal_peer_wins"  # same timing, the peer's address ranks lower
    EQUAL_WE_WIN = "equal_we_win"  # same timing, our address ranks lower
    SLOWER = "slower"  # the peer ranks worse (higher demote byte, or strictly slower timing)
    DEPARTING = "departing"  # the peer's timing is beyond our master-down interval: bow-out


# The table input each verdict is (CARP's and VRRPv3's checks both end here).
VERDICT_INPUT = {
    Verdict.FASTER: Input.ADV_FASTER,
    Verdict.EQUAL_PEER_WINS: Input.ADV_EQUAL_PEER_WINS,
    Verdict.EQUAL_WE_WIN: Input.ADV_EQUAL_WE_WIN,
    Verdict.SLOWER: Input.ADV_SLOWER,
    Verdict.DEPARTING: Input.ADV_DEPARTING,
}


def tie_break_rank(address: IPAddress) -> tuple[int, int]:
    """Lower ranks win equal-timing elections (see the module docstring for the IPv4 order)."""
    if address.version == 4:
        return (4, int.from_bytes(address.packed, "little"))
    return (6, int(address))


def judge(
    *,
    our_advbase: int,
    our_advskew: int,
    peer_advbase: int,
    peer_advskew: int,
    dead_ratio: int,
    our_address: IPAddress | None,
    peer_address: IPAddress | None,
    our_demote: int = 0,
    peer_demote: int = 0,
) -> Verdict:
    """Classify a peer's advert. ``our_advskew`` and ``our_demote`` are what we would send.

    DEPARTING follows FreeBSD and ucarp: a master whose interval exceeds our master-down interval
    (``dead_ratio * advbase + advskew/256``: both keep the skew part in that comparison) is bound
    to time out anyway (the bow-out advert uses advbase 255), so waiting is pointless. Since our
    master-down interval is never shorter than our own interval, DEPARTING implies "slower":
    with ``dead_ratio`` 1 an equal peer is still EQUAL, not DEPARTING. At advbase 0 only the
    bow-out advert itself is DEPARTING (see the module docstring).

    The demote bytes decide before timing (OpenBSD): a lower one is FASTER, a higher one SLOWER
    (a backup's machine takes over from such a master even without preempt). Order matters for
    convergence: a bow-out is DEPARTING whatever its byte; a lower byte beats "bound to time
    out" (else a slow but undemoted master and a fast demoted one would both ignore the other);
    "bound to time out" beats a higher byte (both say "take over").
    """
    if (peer_advbase, peer_advskew) == (BOW_OUT_ADVBASE, BOW_OUT_ADVSKEW):
        return Verdict.DEPARTING
    if peer_demote < our_demote:
        return Verdict.FASTER
    if our_advbase != SUB_SECOND_ADVBASE and _beyond_master_down(
        our_advbase, our_advskew, peer_advbase, peer_advskew, dead_ratio
    ):
        return Verdict.DEPARTING
    if peer_demote > our_demote:
        return Verdict.SLOWER
    ours, theirs = (
        election_time(our_advbase, our_advskew),
        election_time(peer_advbase, peer_advskew),
    )
    if theirs < ours:
        return Verdict.FASTER
    if theirs > ours:
        return Verdict.SLOWER
    if our_address is None or peer_address is None:
        return Verdict.EQUAL_PEER_WINS
    if tie_break_rank(peer_address) < tie_break_rank(our_address):
        return Verdict.EQUAL_PEER_WINS
    return Verdict.EQUAL_WE_WIN


def _beyond_master_down(
    our_advbase: int, our_advskew: int, peer_advbase: int, peer_advskew: int, dead_ratio: int
) -> bool:
    theirs = election_time(peer_advbase, peer_advskew)
    return theirs > master_down_interval(our_advbase, our_advskew, dead_ratio)


def last_resort(
    master_timing: tuple[int, int] | None,
    our_advskew: int,
    *,
    master_demote: int = 0,
    our_demote: int = 0,
) -> bool:
    """The master advertises the demotion ceiling (maintenance, a failed health track, a dead
    link elsewhere) and we do not: it holds the addresses only because nobody better was
    there, so a healthy backup takes over even without preempt. Otherwise a node that took
    over as the last resort would keep the addresses after a healthy one came back.

    ``master_timing`` is the (advbase, advskew) of the last valid advert heard. A master whose
    demote byte is higher than ours is taken over the same way (OpenBSD does it at once).
    """
    if master_timing is not None and master_demote > our_demote:
        return True
    return (
        master_timing is not None
        and master_timing[1] >= MAX_WIRE_ADVSKEW
        and our_advskew < MAX_WIRE_ADVSKEW
    )
