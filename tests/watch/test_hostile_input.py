"""Truncated, mangled and random captures: ``pycarp watch`` reports or refuses, never crashes.

Two ways in: hypothesis-generated frames fed straight to the watcher (every link type it
knows), and bounded random mutations of a real capture (flipped bytes, cuts, inserted bytes)
through the command itself, whose exit status must stay 0, 1 or 2.
"""

from __future__ import annotations

import pathlib
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pycarp import pcap
from pycarp.cli import watch
from pycarp.watch.watcher import Watcher

from .builders import START, carp, every

VECTORS = pathlib.Path(__file__).resolve().parent.parent / "vectors" / "watch"
LINKTYPES = [
    pcap.LINKTYPE_ETHERNET,
    pcap.LINKTYPE_RAW,
    pcap.LINKTYPE_LINUX_SLL,
    pcap.LINKTYPE_LINUX_SLL2,
    pcap.LINKTYPE_IPV4,
    pcap.LINKTYPE_IPV6,
    147,  # a link type nobody supports
]
# Prefixes that get random bytes past the first checks: Ethernet + IPv4 + protocol 112, IPv6.
PREFIXES = [
    b"",
    carp(1, 1)[:34],
    bytes.fromhex("01005e000012020000000001 0800 4500"),
    bytes.fromhex("333300000012020000000001 86dd 60000000 0024 7040".replace(" ", "")),
    bytes.fromhex("333300000001020000000001 86dd 60000000 0020 3aff".replace(" ", "")),
    bytes.fromhex("ffffffffffff020000000001 0806 0001 0800 0604 0001".replace(" ", "")),
]


@settings(max_examples=400, deadline=None)
@given(
    frames=st.lists(
        st.tuples(
            st.sampled_from(LINKTYPES),
            st.sampled_from(PREFIXES),
            st.binary(max_size=120),
            st.floats(min_value=0, max_value=100, allow_nan=False),
        ),
        max_size=12,
    )
)
def test_random_frames_never_raise(frames: list[tuple[int, bytes, bytes, float]]) -> None:
    watcher = Watcher(passphrases={None: [b"secret"]})
    for number, (linktype, prefix, tail, moment) in enumerate(frames, start=1):
        watcher.feed_frame(START + moment, linktype, prefix + tail, number)
        watcher.report()
    watcher.finish()


def _mutate(data: bytes, rng: random.Random) -> bytes:
    mutated = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        action = rng.randrange(3)
        position = rng.randrange(len(mutated) + 1)
        if action == 0 and mutated:
            mutated[min(position, len(mutated) - 1)] = rng.randrange(256)
        elif action == 1:
            del mutated[position:]
            if not mutated:
                break
        else:
            mutated[position:position] = rng.randbytes(rng.randint(1, 8))
    return bytes(mutated)


def test_mutated_captures_give_a_report_or_a_one_line_error(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = random.Random(20261201)  # fixed: a failure is reproducible
    sources = sorted(VECTORS.glob("*.pcap"))
    assert sources, "the committed captures are missing"
    target = tmp_path / "mutated.pcap"
    statuses = set()
    for round_number in range(300):
        original = sources[round_number % len(sources)].read_bytes()
        target.write_bytes(_mutate(original, rng))
        status = watch.main(["--pcap", str(target), "--pass", "secret", "--json"])
        statuses.add(status)
        captured = capsys.readouterr()
        assert status in (0, 1, 2)
        assert "Traceback" not in captured.err
        if status == 2:
            assert len(captured.err.strip().splitlines()) == 1, captured.err
    assert statuses >= {0, 1, 2}, "the mutations should reach every outcome"


def test_a_capture_cut_inside_a_record_still_reports_what_came_before(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pycarp.lab import craft

    path = tmp_path / "cut.pcap"
    craft.write_pcap(path, [(START + t, f) for t, f in every(1, 0.0, 5, 1.0)])
    path.write_bytes(path.read_bytes()[:-10])
    assert watch.main(["--pcap", str(path)]) == 0
    captured = capsys.readouterr()
    assert "4 protocol-112 packets" in captured.out
    assert "file ends inside record 5" in captured.err
