"""The watcher's analysis on crafted traffic: each situation gives exactly its findings."""

from __future__ import annotations

import ipaddress

import pytest

from pycarp.core.auth import SignatureMode
from pycarp.lab import craft
from pycarp.watch.digest import Form
from pycarp.watch.report import Report
from pycarp.watch.watcher import Watcher

from .builders import VIPS, carp, carp6, every, feed, host, mac, unsolicited_na, vrrp2, vrrp3

SECRET = {None: [b"secret"]}


def codes(report: Report) -> list[str]:
    return sorted(f.code for f in report.findings)


def run(records: list[tuple[float, bytes]], **kw: object) -> Report:
    return feed(Watcher(**kw), records).finish()  # type: ignore[arg-type]


def test_a_steady_master_gives_no_finding_and_its_table() -> None:
    report = run(every(1, 0.0, 10, 1.0, first_counter=41), passphrases=SECRET)
    assert codes(report) == []
    (group,) = report.groups
    assert group.group.name == "carp 1 ipv4"
    assert group.group.master == host(1)
    (row,) = group.senders
    assert row.sender.count == 10
    assert row.sender.mean_interval == pytest.approx(1.0)
    assert row.sender.jitter == pytest.approx(0.0, abs=1e-6)
    assert row.sender.counter_behaviour == "incrementing"
    assert row.sender.macs == [mac(1)]
    # no ARP seen and no --addr: the passphrase alone cannot check the digest
    assert row.verdict is not None
    assert row.verdict.form is Form.NO_ADDRESSES


def test_a_crash_is_a_change_of_master_after_the_silence_and_a_late_master_finding() -> None:
    records = every(1, 0.0, 5, 1.0) + every(2, 4.0 + 3.390625, 3, 1.390625, advskew=100)
    report = run(records)
    (group,) = report.groups
    change = group.group.changes[-1]
    assert (change.previous, change.master, change.cause) == (host(1), host(2), "silent")
    assert change.gap == pytest.approx(3.390625)
    assert codes(report) == ["master-adverts-late"]
    (finding,) = report.findings
    assert [e.source for e in finding.evidence] == [str(host(1)), str(host(2))]


def test_a_bow_out_hands_over_without_a_late_finding() -> None:
    bow = [(4.5, carp(1, 99, advbase=255, advskew=255))]
    records = every(1, 0.0, 5, 1.0) + bow + every(2, 4.9, 3, 1.390625, advskew=100)
    report = run(records)
    assert report.groups[0].group.changes[-1].cause == "bow-out"
    assert codes(report) == ["bow-out"]
    assert report.worst is not None
    assert report.worst.label == "info"


def test_preemption_with_one_advert_in_flight_is_not_a_split_brain() -> None:
    records = every(2, 0.0, 5, 1.390625, advskew=100) + every(1, 5.9, 4, 1.0)
    records.append((6.0, carp(2, 50, advskew=100)))  # sent before h2 heard h1
    report = run(records)
    assert codes(report) == []
    assert report.groups[0].group.changes[-1].cause == "preempted"


def test_two_masters_at_once_is_a_split_brain_with_its_duration() -> None:
    records = every(1, 0.0, 12, 1.0) + every(2, 4.2, 6, 1.0, advskew=100)
    report = run(records)
    assert codes(report) == ["split-brain", "takeover-while-master-advertising"]
    split = next(f for f in report.findings if f.code == "split-brain")
    assert "5.000 s" in split.message  # from h2's first advert (4.2) to its last (9.2)


def test_ttl_demote_and_a_broken_packet() -> None:
    records = every(1, 0.0, 3, 1.0, demote=2) + every(1, 3.0, 2, 1.0, first_counter=4, ttl=64)
    broken = bytearray(carp(3, 1))
    broken[-30] ^= 0xFF  # inside the CARP payload: the checksum no longer verifies
    records.append((1.5, bytes(broken)))
    report = run(records)
    assert codes(report) == ["malformed-advert", "master-demoted", "ttl-not-255"]


def test_carp_vhid_equal_to_a_vrrp_vrid_on_the_segment() -> None:
    records = every(1, 0.0, 3, 1.0) + [(0.5 + i, vrrp3(2, 1, 200, [VIPS[0]])) for i in range(3)]
    report = run(records)
    assert [g.group.name for g in report.groups] == ["carp 1 ipv4", "vrrp3 1 ipv4"]
    assert report.groups[1].senders[0].sender.last is not None
    assert report.groups[1].senders[0].sender.last.priority == 200
    assert codes(report) == ["vhid-vrrp-collision"]


def test_advbase_disagreement() -> None:
    records = every(1, 0.0, 3, 2.0, advbase=2) + every(2, 4.0 + 3.39, 3, 1.39, advskew=100)
    report = run(records)
    assert codes(report) == ["advbase-mismatch", "master-adverts-late"]


def test_digest_kernel_form_over_the_announced_addresses() -> None:
    arp = [(0.0, craft.gratuitous_arp(mac(1), a)) for a in VIPS]
    report = run(arp + every(1, 0.1, 3, 1.0), passphrases=SECRET)
    verdict = report.groups[0].senders[0].verdict
    assert verdict is not None
    assert (verdict.form, set(verdict.addresses), verdict.source) == (
        Form.KERNEL,
        set(VIPS),
        "announced",
    )
    assert codes(report) == []


def test_wrong_passphrase_is_named_with_the_sender_that_verifies() -> None:
    records = every(1, 0.0, 8, 1.0) + every(2, 2.2, 3, 1.39, advskew=100, passphrase=b"other")
    report = run(records, passphrases=SECRET, addresses={None: [VIPS]})
    unverified = [f for f in report.findings if f.code == "digest-unverified"]
    assert len(unverified) == 1
    assert str(host(2)) in unverified[0].message
    assert str(host(1)) in unverified[0].message


def test_address_sets_that_differ_between_senders() -> None:
    other = (VIPS[0], host(102))
    records = every(1, 0.0, 8, 1.0) + every(2, 2.2, 3, 1.39, advskew=100, addresses=other)
    report = run(records, passphrases=SECRET, addresses={1: [VIPS, other]})
    assert "address-set-mismatch" in codes(report)


def test_ucarp_form_in_a_group_of_two_addresses() -> None:
    ucarp = every(2, 2.2, 3, 1.39, advskew=100, addresses=VIPS[:1], mode=SignatureMode.UCARP)
    report = run(every(1, 0.0, 8, 1.0) + ucarp, passphrases=SECRET, addresses={None: [VIPS]})
    assert "ucarp-form-digest" in codes(report)
    verdict = report.groups[0].senders[1].verdict
    assert verdict is not None
    assert verdict.form is Form.UCARP


@pytest.mark.parametrize(("key_len", "matched"), [(19, 19), (20, 20)])
def test_only_the_first_19_passphrase_bytes_count_unless_a_20_byte_key_matches(
    key_len: int, matched: int
) -> None:
    passphrase = b"0123456789abcdefghijKLMN"
    records = every(1, 0.0, 3, 1.0, passphrase=passphrase[:key_len])
    report = run(records, passphrases={1: [passphrase]}, addresses={None: [VIPS]})
    verdict = report.groups[0].senders[0].verdict
    assert verdict is not None
    assert verdict.form is Form.KERNEL
    assert verdict.key_bytes == matched


def test_counter_behaviours() -> None:
    constant = [(float(i), carp(1, 77)) for i in range(5)]
    scattered = [(float(i), carp(2, 7**i + 3 * i, vhid=2)) for i in range(5)]
    report = run(constant + scattered)
    behaviours = [g.senders[0].sender.counter_behaviour for g in report.groups]
    assert behaviours == ["constant cookie", "random"]


def test_ipv6_group_digest_over_addresses_announced_by_neighbour_adverts() -> None:
    vip6 = ipaddress.IPv6Address("2001:db8::100")
    group = (VIPS[0], vip6)  # a dual-stack group: the kernel digest covers both families
    records = [
        (0.0, craft.gratuitous_arp(mac(1), VIPS[0])),
        (0.0, unsolicited_na(1, vip6)),
        (0.0, unsolicited_na(1, ipaddress.IPv6Address("2001:db8::dead"), solicited=True)),
    ]
    records += [(0.1 + i, carp6(1, 10 + i, group)) for i in range(3)]
    report = run(records, passphrases=SECRET)
    (row,) = report.groups
    assert row.group.name == "carp 1 ipv6"
    verdict = row.senders[0].verdict
    assert verdict is not None
    assert verdict.form is Form.KERNEL
    assert set(verdict.addresses) == set(group)  # the solicited advert was not a candidate
    assert codes(report) == []


def test_vrrp2_priority_0_is_a_bow_out_and_address_lists_are_compared() -> None:
    records = [(float(i), vrrp2(1, 5, 200, [VIPS[0]])) for i in range(3)]
    records.append((3.0, vrrp2(1, 5, 0, [VIPS[0]])))
    records += [(3.2 + i, vrrp2(2, 5, 100, [VIPS[0], VIPS[1]])) for i in range(3)]
    report = run(records)
    (row,) = report.groups
    assert row.group.name == "vrrp2 5 ipv4"
    assert row.group.changes[-1].cause == "bow-out"
    assert codes(report) == ["address-set-mismatch", "bow-out"]
