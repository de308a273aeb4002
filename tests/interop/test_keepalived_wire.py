"""What pycarp makes of keepalived's VRRPv3 adverts beyond the election: checksum and addresses.

* The checksum: keepalived 2.2.7 always covers an IPv4 pseudo-header (RFC 5798's reading);
  pycarp does the same by default, or RFC 9568's form (``--vrrp-checksum rfc9568``). Matching,
  the group works; mismatching, every advert of the other side is a counted drop
  (``bad_checksum``) and changes nothing: a higher-priority keepalived does not make pycarp
  step down. IPv6 always has its pseudo-header, so the option cannot break an IPv6 group.
* The address list: an advert that lists other addresses is accepted (the election goes on) and
  reported as a typed ``address_list_mismatch`` fact; keepalived says the same in its log.
"""

from __future__ import annotations

import ipaddress
import pathlib

import pytest

from pycarp.lab import Lab, checks, keepalived
from pycarp.lab.daemons import wait_for

from .vrrp3 import (
    HIGH,
    LOW,
    SECOND,
    SETTLE,
    VIRTUAL,
    VRID,
    assert_quiet,
    drops,
    need_keepalived,
    source_of,
    start_keepalived,
    start_pycarp_vrrp,
)

pytestmark = pytest.mark.netns
INTERVAL = 0.1
SLOWER_THAN_KEEPALIVED = 0.13  # see test_mismatching_checksum_is_a_counted_drop_not_a_step_down
BAD_CHECKSUM = "bad_checksum"


@pytest.fixture(autouse=True)
def _keepalived_installed() -> None:
    need_keepalived()


def ip(address: str) -> str:
    return str(ipaddress.ip_interface(address).ip)


@pytest.mark.parametrize(
    ("family", "form"),
    [(4, "pseudo-header"), (6, "pseudo-header"), (6, "rfc9568")],
    ids=["ipv4-pseudo-header", "ipv6-pseudo-header", "ipv6-rfc9568-option-moot"],
)
def test_matching_checksum_keepalived_takes_the_group(
    lab: Lab, tmp_path: pathlib.Path, family: int, form: str
) -> None:
    """pycarp active at a low priority; keepalived's higher priority takes over (preempt)."""
    pycarp = start_pycarp_vrrp(
        lab,
        "h1",
        tmp_path,
        family=family,
        priority=LOW,
        interval=INTERVAL,
        extra=["--vrrp-checksum", form],
    )
    checks.wait_for_state(pycarp, "MASTER", timeout=SETTLE)
    higher = start_keepalived(lab, "h2", tmp_path, family=family, priority=HIGH, interval=INTERVAL)
    checks.wait_for_state(higher, "MASTER", timeout=SETTLE)
    checks.wait_for_state(pycarp, "BACKUP", timeout=SETTLE)
    checks.wait_holders(lab, ["h2"], SETTLE, VIRTUAL[family])
    assert_quiet([pycarp, higher], seconds=10 * INTERVAL)
    assert drops(pycarp, BAD_CHECKSUM) == 0
    assert pycarp.events("packet_dropped") == []


def test_mismatching_checksum_is_a_counted_drop_not_a_step_down(
    lab: Lab, tmp_path: pathlib.Path
) -> None:
    """pycarp with RFC 9568's IPv4 checksum against keepalived 2.2.7's pseudo-header one.

    Neither reads the other: keepalived becomes active too (it hears nothing valid), which is
    the damage a checksum mismatch does, but pycarp never yields to the adverts it dropped.

    pycarp advertises a little slower than keepalived here. At the same interval keepalived
    2.2.7, active, sends (almost) nothing while our adverts, which it drops as invalid, keep
    arriving: each packet it reads pushes its own advert timer back by one interval (seen
    once pycarp's adverts stopped drifting: 3 keepalived adverts in 3 s at 0.1 s each).
    """
    pycarp = start_pycarp_vrrp(
        lab,
        "h1",
        tmp_path,
        family=4,
        priority=LOW,
        interval=SLOWER_THAN_KEEPALIVED,
        extra=["--vrrp-checksum", "rfc9568"],
    )
    checks.wait_for_state(pycarp, "MASTER", timeout=SETTLE)
    higher = start_keepalived(lab, "h2", tmp_path, family=4, priority=HIGH, interval=INTERVAL)
    checks.wait_for_state(higher, "MASTER", timeout=SETTLE)
    theirs = source_of(lab, "h2", 4)
    dropped = pycarp.wait_for_event("packet_dropped", SETTLE, reason=BAD_CHECKSUM, source=theirs)
    assert "rfc9568" in dropped["detail"], dropped
    assert_quiet([pycarp], seconds=10 * SLOWER_THAN_KEEPALIVED)
    assert pycarp.states() == ["BACKUP", "MASTER"]
    # Every advert counted, not only the first one reported: ten intervals, ten adverts at least.
    wait_for(lambda: drops(pycarp, BAD_CHECKSUM) >= 10, SETTLE)
    assert checks.holders(lab, VIRTUAL[4]) == ["h1", "h2"]  # two active routers: the damage


@pytest.mark.parametrize(("form", "works"), [("rfc9568", True), ("pseudo-header", False)])
def test_keepalived_v3_checksum_as_v2(
    lab: Lab, tmp_path: pathlib.Path, form: str, works: bool
) -> None:
    """keepalived >= 2.2.8 with v3_checksum_as_v2 against both of pycarp's forms."""
    missing = keepalived.checksum_as_v2_missing()
    if missing is not None:
        pytest.skip(missing)
    pycarp = start_pycarp_vrrp(
        lab,
        "h1",
        tmp_path,
        family=4,
        priority=LOW,
        interval=INTERVAL,
        extra=["--vrrp-checksum", form],
    )
    checks.wait_for_state(pycarp, "MASTER", timeout=SETTLE)
    instance = keepalived.Instance(
        VRID, (VIRTUAL[4],), priority=HIGH, interval=INTERVAL, checksum_as_v2=True
    )
    higher = keepalived.start(lab, "h2", [instance], workdir=tmp_path)
    checks.wait_for_state(higher, "MASTER", timeout=SETTLE)
    if works:
        checks.wait_for_state(pycarp, "BACKUP", timeout=SETTLE)
        assert drops(pycarp, BAD_CHECKSUM) == 0
    else:
        theirs = source_of(lab, "h2", 4)
        pycarp.wait_for_event("packet_dropped", SETTLE, reason=BAD_CHECKSUM, source=theirs)
        assert_quiet([pycarp], seconds=10 * INTERVAL)
        assert pycarp.states() == ["BACKUP", "MASTER"]


@pytest.mark.parametrize("family", [4, 6], ids=["ipv4", "ipv6"])
def test_address_list_mismatch_is_reported_and_accepted(
    lab: Lab, tmp_path: pathlib.Path, family: int
) -> None:
    """keepalived active with one address, pycarp backing up two: pycarp follows it anyway."""
    active = start_keepalived(lab, "h1", tmp_path, family=family, priority=HIGH, interval=INTERVAL)
    checks.wait_for_state(active, "MASTER", timeout=SETTLE)
    ours = [VIRTUAL[family], SECOND[family]]
    pycarp = start_pycarp_vrrp(
        lab, "h2", tmp_path, family=family, priority=LOW, interval=INTERVAL, addresses=ours
    )
    mismatch = pycarp.wait_for_event("address_list_mismatch", SETTLE)
    assert mismatch["source"] == source_of(lab, "h1", family)
    assert mismatch["theirs"] == [ip(VIRTUAL[family])]
    assert sorted(mismatch["ours"]) == sorted(ip(a) for a in ours)
    assert mismatch["count"] >= 1
    assert_quiet([active, pycarp], seconds=10 * INTERVAL)
    assert pycarp.states() == ["BACKUP"]  # accepted: the active router's timer was reset
    assert len(pycarp.events("address_list_mismatch")) == 1  # said once per sender and list


@pytest.mark.parametrize(
    ("theirs", "said"),
    [
        ((VIRTUAL[4], SECOND[4]), "received an unexpected ip number count 1, expected 2"),
        (
            (SECOND[4],),
            f"associated with VRID {VRID} not present in MASTER advert: {ip(SECOND[4])}",
        ),
    ],
    ids=["count", "address"],
)
def test_keepalived_logs_an_address_list_mismatch(
    lab: Lab, tmp_path: pathlib.Path, theirs: tuple[str, ...], said: str
) -> None:
    """The other direction; keepalived's log is its only account of this (read here alone).

    keepalived 2.2.7 as a backup does not only log: it drops such an advert (its
    ``vrrp_check_packet`` returns KO for a different count or a missing address), so it hears
    no valid advert and becomes active too. pycarp accepts them instead (the test above).
    """
    pycarp = start_pycarp_vrrp(lab, "h1", tmp_path, family=4, priority=HIGH, interval=INTERVAL)
    checks.wait_for_state(pycarp, "MASTER", timeout=SETTLE)
    backup = start_keepalived(
        lab, "h2", tmp_path, family=4, priority=LOW, interval=INTERVAL, addresses=theirs
    )
    backup.wait_for_message(said, SETTLE)
    checks.wait_for_state(backup, "MASTER", timeout=SETTLE)
    assert pycarp.states() == ["BACKUP", "MASTER"]  # keepalived's priority is lower
    checks.wait_holders(lab, ["h2"], SETTLE, SECOND[4])  # keepalived active too
    assert checks.holds(lab, "h1", VIRTUAL[4])
