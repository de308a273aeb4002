"""After a partition heals, do clients that cached the losing master's MAC get pointed back?

pycarp announces with the interface's MAC (no virtual MAC), so a client that talked to the
other side of a split caches that side's MAC. When the partition heals, which master speaks
first decides what happens:

- the slower master (h2) advertises first: the rightful master (h1) hears a slower master and
  reasserts, i.e. advertises at once and announces its addresses again: clients move back;
- h1 advertises first: h2 hears a faster master and yields. If it yielded silently, h1 would
  never hear h2, nobody would announce, and a client would keep sending to h2 (which no longer
  has the address) until its ARP entry expires: tens of seconds on Linux.

Both orders are forced here by timing the heal from the adverts seen on the bridge (the
capture sees both sides of a partition: the rules drop frames between ports, not to the
bridge). The second order used to leave the client stuck on h2; the yielding master now sends
one last advert (as ucarp does), which h1 hears as a slower master and answers by announcing.
"""

from __future__ import annotations

import itertools
import pathlib
import statistics
import time

import pytest

from pycarp.lab import Lab
from pycarp.lab.capture import AdvertCapture
from pycarp.lab.daemons import Daemon, wait_for

from .support import (
    ELECTION_TIMEOUT,
    VIPS,
    advert_times,
    held_ips,
    neighbour_mac,
    ping,
    start_group,
    state_of,
    wait_for_stable_master,
    wait_for_state,
)


class ClientNotPointedBack(AssertionError):
    """The failure this file guards against: the client's ARP entry still names the loser."""


HEAD_START = 0.15  # heal this long before the chosen master's next advert
ATTEMPTS = 3  # a loaded machine may spoil the timing; every attempt is checked afterwards


def next_advert(times: list[float], after: float) -> float:
    """When the sender's next advert after ``after`` is due, from its recent rhythm."""
    period = statistics.median(b - a for a, b in itertools.pairwise(times[-4:]))
    due = times[-1]
    while due <= after:
        due += period
    return due


def heal_just_before(
    lab: Lab, capture: AdvertCapture, first: str, second: str, *, since: float, deadline: float
) -> float:
    """Reconnect so that ``first`` advertises right after the heal and ``second`` later.

    Waits for a moment when ``first``'s next advert is due HEAD_START after now and
    ``second``'s next one comfortably after that; returns the wall time of the reconnect.
    """
    first_ip, second_ip = (str(lab.ipv4(node).ip) for node in (first, second))
    while time.time() < deadline:
        adverts = capture.adverts()
        now = time.time()
        ours = advert_times(adverts, first_ip, 1, start=since)
        theirs = advert_times(adverts, second_ip, 1, start=since)
        if len(ours) < 3 or len(theirs) < 3:
            time.sleep(0.2)
            continue
        due = next_advert(ours, now + 0.1)
        other_due = next_advert(theirs, now + 0.1)
        if other_due > due + 0.4:  # the other side stays quiet until well after the heal
            time.sleep(max(due - HEAD_START - time.time(), 0))
            healed = time.time()
            lab.reconnect()
            return healed
        time.sleep(0.1)
    raise AssertionError(f"no moment for {first} to speak first before the deadline")


def split_and_heal(
    lab: Lab, capture: AdvertCapture, daemons: dict[str, Daemon], first: str
) -> tuple[float, str]:
    """Isolate h1 (two masters, the client on h2's side), heal so ``first`` speaks first.

    Returns the heal time and who really advertised first after it (from the capture).
    """
    isolated = time.time()
    lab.isolate("h1")
    wait_for_state(daemons["h2"], "MASTER", timeout=ELECTION_TIMEOUT)
    wait_for(lambda: held_ips(lab, "h2") == {ip.split("/")[0] for ip in VIPS}, 2.0)
    assert ping(lab, "client", VIPS[0])
    assert neighbour_mac(lab, "client", VIPS[0]) == lab.mac("h2")
    second = "h2" if first == "h1" else "h1"
    healed = heal_just_before(
        lab, capture, first, second, since=isolated, deadline=time.time() + 15
    )
    wait_for_state(daemons["h2"], "BACKUP", timeout=3.0)
    time.sleep(0.5)
    after = [a for a in capture.adverts() if a.timestamp > healed and a.advert.advbase != 255]
    assert after, "no advert after the heal"
    spoke_first = "h1" if after[0].source == str(lab.ipv4("h1").ip) else "h2"
    return healed, spoke_first


@pytest.mark.slow
@pytest.mark.parametrize(
    "first",
    [
        "h2",
        "h1",
    ],
    ids=["slower-master-speaks-first", "faster-master-speaks-first"],
)
def test_clients_are_pointed_back_at_the_master_when_a_partition_heals(
    lab: Lab, tmp_path: pathlib.Path, first: str
) -> None:
    with AdvertCapture(lab, tmp_path / "adverts.pcap") as capture:
        daemons = start_group(lab, tmp_path, skews={"h1": 0, "h2": 100})
        wait_for_stable_master(daemons, "h1")
        for attempt in range(1, ATTEMPTS + 1):
            healed, spoke_first = split_and_heal(lab, capture, daemons, first)
            if spoke_first == first:
                break
            print(f"attempt {attempt}: {spoke_first} spoke first, not {first}: again")
        else:
            raise AssertionError(f"could not make {first} speak first in {ATTEMPTS} attempts")
        print(f"{first} spoke first after the heal (attempt {attempt})")
        assert state_of(daemons["h1"]) == "MASTER"
        assert held_ips(lab, "h2") == set()
        # Within a second, without the client asking again, its entry must name h1.
        deadline = time.time() + 1.0
        while (cached := neighbour_mac(lab, "client", VIPS[0])) != lab.mac("h1"):
            if time.time() > deadline:
                raise ClientNotPointedBack(
                    f"{time.time() - healed:.1f} s after the heal the client still sends "
                    f"{VIPS[0].split('/')[0]} to {cached} (h2), which released it"
                )
            time.sleep(0.05)
