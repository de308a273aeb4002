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
"""

from __future__ import annotations

import enum
import ipaddress

from pycarp.core.timing import MAX_WIRE_ADVSKEW, advertisement_interval, master_down_interval

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class Verdict(enum.Enum):
    """A valid advertisement, classified against our own timing. These are machine inputs."""

    FASTER = "faster"  # the peer advertises strictly more often: it should be master
    EQUAL_PEER_WINS = "equal_peer_wins"  # same timing, the peer's address ranks lower
    EQUAL_WE_WIN = "equal_we_win"  # same timing, our address ranks lower
    SLOWER = "slower"  # the peer advertises strictly less often than we would
    DEPARTING = "departing"  # the peer's timing is beyond our master-down interval: bow-out


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
) -> Verdict:
    """Classify a peer's advert. ``our_advskew`` is what we would send (demotion included).

    DEPARTING follows FreeBSD and ucarp: a master whose interval exceeds our master-down interval
    (``dead_ratio * advbase + advskew/256``: both keep the skew part in that comparison) is bound
    to time out anyway (the bow-out advert uses advbase 255), so waiting is pointless. Since our
    master-down interval is never shorter than our own interval, DEPARTING implies "slower":
    with ``dead_ratio`` 1 an equal peer is still EQUAL, not DEPARTING.
    """
    ours = advertisement_interval(our_advbase, our_advskew)
    theirs = advertisement_interval(peer_advbase, peer_advskew)
    if theirs > master_down_interval(our_advbase, our_advskew, dead_ratio):
        return Verdict.DEPARTING
    if theirs < ours:
        return Verdict.FASTER
    if theirs > ours:
        return Verdict.SLOWER
    if our_address is None or peer_address is None:
        return Verdict.EQUAL_PEER_WINS
    if tie_break_rank(peer_address) < tie_break_rank(our_address):
        return Verdict.EQUAL_PEER_WINS
    return Verdict.EQUAL_WE_WIN


def last_resort(master_timing: tuple[int, int] | None, our_advskew: int) -> bool:
    """The master advertises the demotion ceiling (maintenance, a failed health track, a dead
    link elsewhere) and we do not: it holds the addresses only because nobody better was
    there, so a healthy backup takes over even without preempt. Otherwise a node that took
    over as the last resort would keep the addresses after a healthy one came back.

    ``master_timing`` is the (advbase, advskew) of the last valid advert heard.
    """
    return (
        master_timing is not None
        and master_timing[1] >= MAX_WIRE_ADVSKEW
        and our_advskew < MAX_WIRE_ADVSKEW
    )
