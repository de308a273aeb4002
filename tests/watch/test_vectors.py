"""The committed captures (tests/vectors/watch, see PROVENANCE.md): each gives exactly the
findings of the situation it was recorded in, through the command's JSON output."""

from __future__ import annotations

import json
import pathlib
import typing

import pytest

from pycarp.cli import watch

VECTORS = pathlib.Path(__file__).resolve().parent.parent / "vectors" / "watch"
LONG = "twenty-four-bytes-long!!"
H1, H2 = "198.51.100.1", "198.51.100.2"
MASTER_DOWN = 3 + 100 / 256  # h2's, advskew 100

# capture -> (extra arguments, the findings' codes, sorted)
EXPECTED: dict[str, tuple[list[str], list[str]]] = {
    "pycarp_kill": ([], ["master-adverts-late"]),
    "pycarp_stop": ([], ["bow-out"]),
    "pycarp_split": ([], ["split-brain", "takeover-while-master-advertising"]),
    "pycarp_wrong_pass": (
        [],
        ["digest-unverified", "split-brain", "takeover-while-master-advertising"],
    ),
    "pycarp_addresses": (
        [],
        ["address-set-mismatch", "split-brain", "takeover-while-master-advertising"],
    ),
    "pycarp_advbase": ([], ["advbase-mismatch", "master-adverts-late"]),
    "ucarp_pycarp": (
        [],
        ["split-brain", "takeover-while-master-advertising", "ucarp-form-digest"],
    ),
    "keepalived_carp": ([], ["vhid-vrrp-collision"]),
    "crafted_openbsd": ([], ["malformed-advert", "master-demoted", "ttl-not-255"]),
    "crafted_long_pass": (["--pass", LONG], ["master-adverts-late", "passphrase-over-19-bytes"]),
}


def analyse(
    name: str, extra: list[str], capsys: pytest.CaptureFixture[str]
) -> tuple[int, dict[str, typing.Any]]:
    path = VECTORS / f"{name}.pcap"
    status = watch.main(["--pcap", str(path), "--json", "--pass", "secret", *extra])
    return status, json.loads(capsys.readouterr().out)


def test_every_capture_has_an_expectation() -> None:
    assert sorted(p.stem for p in VECTORS.glob("*.pcap")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_capture_gives_exactly_its_findings(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    extra, codes = EXPECTED[name]
    status, document = analyse(name, extra, capsys)
    assert sorted(f["code"] for f in document["findings"]) == codes
    serious = any(f["severity"] != "info" for f in document["findings"])
    assert status == (1 if serious else 0)
    for finding in document["findings"]:
        assert finding["advice"]
        if finding["code"] not in ("advbase-mismatch", "address-set-mismatch"):
            assert finding["evidence"], finding


def _group(document: dict[str, typing.Any], name: str) -> dict[str, typing.Any]:
    return next(g for g in document["groups"] if g["group"] == name)


def test_crash_takeover_gap_is_the_backups_master_down_interval(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _status, document = analyse("pycarp_kill", [], capsys)
    changes = _group(document, "carp 1 ipv4")["changes"]
    assert [(c["from"], c["to"], c["cause"]) for c in changes] == [
        (None, H1, "first"),
        (H1, H2, "silent"),
    ]
    assert changes[1]["gap"] == pytest.approx(MASTER_DOWN, abs=0.05)


def test_bow_out_takeover_is_fast(capsys: pytest.CaptureFixture[str]) -> None:
    _status, document = analyse("pycarp_stop", [], capsys)
    group = _group(document, "carp 1 ipv4")
    assert group["changes"][-1]["cause"] == "bow-out"
    # a backup takes over at once on a bow-out (skew time: advskew/256 s after it)
    bow_out_time = group["senders"][0]["last_seen"]
    assert group["changes"][-1]["time"] - bow_out_time < 1.0
    assert group["senders"][0]["bowed_out"] is True


def test_split_brain_ends_with_the_better_node_master(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _status, document = analyse("pycarp_split", [], capsys)
    group = _group(document, "carp 1 ipv4")
    assert group["master"] == H1
    (split,) = [f for f in document["findings"] if f["code"] == "split-brain"]
    seconds = float(split["message"].split(" for ")[1].split(" s")[0])
    assert 4.0 <= seconds <= 7.0  # the partition lasted about 5 s (record_watch_vectors.py)


def test_digest_verdicts_per_sender(capsys: pytest.CaptureFixture[str]) -> None:
    _status, document = analyse("ucarp_pycarp", [], capsys)
    senders = _group(document, "carp 1 ipv4")["senders"]
    pycarp_digest, ucarp_digest = (s["digest"] for s in senders)
    assert [(d["form"], d["addresses"]) for d in pycarp_digest] == [
        ("kernel", ["198.51.100.100", "198.51.100.101"])
    ]
    assert [(d["form"], d["addresses"]) for d in ucarp_digest] == [("ucarp", ["198.51.100.100"])]
    assert senders[1]["macs"] == ["00:00:5e:00:00:01"]  # ucarp's advert source MAC


def test_openbsd_like_master_table(capsys: pytest.CaptureFixture[str]) -> None:
    _status, document = analyse("crafted_openbsd", [], capsys)
    (sender,) = _group(document, "carp 7 ipv4")["senders"]
    assert (sender["demote"], sender["counter"], sender["bad_ttl"]) == (1, "constant cookie", 2)


def test_vrrp_group_table(capsys: pytest.CaptureFixture[str]) -> None:
    _status, document = analyse("keepalived_carp", [], capsys)
    (sender,) = _group(document, "vrrp3 1 ipv4")["senders"]
    assert (sender["source"], sender["priority"], sender["interval"]) == (H2, 200, 1.0)
