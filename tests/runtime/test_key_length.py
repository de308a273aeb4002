"""A long passphrase signs with its first 19 bytes, as a BSD peer keyed by ifconfig does.

The peer here is a second daemon given those 19 bytes as its raw ``key_hex`` (what the
kernel holds after ``ifconfig ... pass``): the two must hear each other, one master and one
backup, with no digest drop; and the daemon with the long passphrase says so once.
"""

from __future__ import annotations

from pycarp.config.build import RawGroup, build_group
from pycarp.config.model import GroupConfig
from pycarp.core.table import State
from pycarp.observe import facts
from pycarp.observe.stream import Published

from .fakes import FakeHost, FakeSegment
from .support import VIRTUAL, Node, run, running, wait_until

A, B = "198.51.100.1", "198.51.100.2"
LONG = "nineteen-bytes-long" + "-and-what-ifconfig-drops"


def keyed(source: str, advskew: int, **secret: str) -> GroupConfig:
    raw = RawGroup(
        interface="eth0",
        source=source,
        vhid=1,
        addresses=[VIRTUAL],
        advskew=advskew,
        dead_ratio=1,
        **secret,  # type: ignore[arg-type]
    )
    return build_group(raw, lambda field: field)


def test_a_long_passphrase_and_the_19_byte_key_make_one_group_and_it_is_said_once() -> None:
    async def scenario() -> None:
        segment = FakeSegment()
        a = Node(FakeHost(A, {"eth0": segment}), [keyed(A, 0, passphrase=LONG)])
        b_key = LONG.encode()[:19].hex()
        b = Node(FakeHost(B, {"eth0": segment}), [keyed(B, 100, key_hex=b_key)], seed=2)
        said: list[facts.Fact] = []

        def record(published: Published) -> None:
            said.append(published.fact)

        a.daemon.stream.subscribe(record)
        b.daemon.stream.subscribe(record)
        async with running(a, b):
            await wait_until(lambda: a.state() is State.MASTER, 3, "A masters")
            await wait_until(lambda: len(segment.adverts(vhid=1)) >= 4, 4, "adverts flowing")
            # B's own master-down interval (1 + 100/256 s) has passed several times over.
            assert b.state() is State.BACKUP
            assert b.became(State.MASTER) == []
        # (A bow-out may reach a daemon already gone: that is "no such group", not a key.)
        drops = [f for f in said if isinstance(f, facts.PacketDropped) and f.reason == "bad_auth"]
        assert drops == []
        cut = [f for f in said if isinstance(f, facts.PassphraseCut)]
        assert cut == [facts.PassphraseCut(groups=("1@eth0",), used=19, longest=len(LONG))]

    run(scenario())
