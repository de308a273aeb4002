"""The event stream (stamping, order, broken subscribers) and the JSON form of every fact."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any, TypedDict

import pytest

from pycarp.observe import facts
from pycarp.observe.facts import SCHEMA_VERSION, DaemonStopping, Fact
from pycarp.observe.logsink import log_fact
from pycarp.observe.stream import EventStream, Published

from .support import address_added, state_changed


class GroupFields(TypedDict):
    group: str
    vhid: int
    interface: str


GROUP: GroupFields = {"group": "1@eth0", "vhid": 1, "interface": "eth0"}

# One instance of every fact the daemon can publish; the test below fails when facts.py gains a
# class that is missing here, so the JSON form of a new fact is checked from its first day.
SAMPLES: list[Fact] = [
    facts.DaemonStarted(pid=4242, groups=2, version="0.1.0"),
    facts.DaemonStopping(reason="signal TERM"),
    facts.GroupStarted(
        **GROUP,
        addresses=("198.51.100.100/24", "2001:db8::100/64"),
        advbase=1,
        advskew=0,
        link_up=True,
        signature="kernel",
        address_mode="native",
    ),
    facts.Unauthenticated(**GROUP, protocol="vrrp3", priority=100, interval=0.1),
    facts.AddressListMismatch(
        **GROUP, source="198.51.100.2", theirs=("198.51.100.9",), ours=("198.51.100.8",), count=1
    ),
    facts.GroupStopped(**GROUP, reason="reload"),
    facts.PassphraseCut(groups=("1@eth0", "2@eth0"), used=19, longest=32),
    facts.CarrierChanged(interface="eth0", up=False),
    facts.VirtualMacAttached(
        **GROUP,
        vmac_interface="eth0.c1",
        mac="00:00:5e:00:01:01",
        settings_changed=("net.ipv4.conf.eth0.arp_ignore=1",),
    ),
    state_changed("BACKUP", "MASTER", "timer"),
    address_added(12.5),
    facts.Announced(**GROUP, addresses=("198.51.100.100/24",), error=""),
    facts.HookStarted(**GROUP, hook="up", argv=("/etc/up.sh", "eth0", "198.51.100.100")),
    facts.HookFinished(
        **GROUP, hook="up", argv=("/etc/up.sh",), outcome="ok", exit_status=0, duration_ms=3.25
    ),
    facts.PacketDropped(
        group="", interface="eth0", reason="unknown_vhid", source="198.51.100.9", detail="vhid 9"
    ),
    facts.DemotionChanged(**GROUP, demotion=240, sources={"carrier": 240}, advskew_on_wire=255),
    facts.ControlRequest(
        uid=0, command="demote", arguments={"mode": "+", "amount": 10}, ok=True, message="ok"
    ),
    facts.StatusSnapshot(status={"v": 1, "groups": [{"group": "1@eth0", "state": "MASTER"}]}),
    facts.TrackChanged(
        name="web",
        up=False,
        demotion=240,
        reason="2 failures in a row",
        fault=True,
        groups=("1@eth0",),
    ),
    facts.TrackCheckFailed(
        name="web",
        result="failed",
        exit_status=22,
        detail="exited with status 22",
        output=("curl: (22) The requested URL returned error: 503",),
    ),
]


def _concrete_fact_classes() -> set[type[Fact]]:
    """Every class in facts.py that can be published (has a kind of its own)."""
    return {
        cls
        for cls in vars(facts).values()
        if isinstance(cls, type) and issubclass(cls, Fact) and cls.kind != Fact.kind
    }


def test_the_samples_cover_every_fact_class_and_kinds_are_unique() -> None:
    assert {type(sample) for sample in SAMPLES} == _concrete_fact_classes()
    kinds = [sample.kind for sample in SAMPLES]
    assert len(set(kinds)) == len(kinds)


@pytest.mark.parametrize("fact", SAMPLES, ids=lambda fact: fact.kind)
def test_every_fact_serialises_to_one_json_object(fact: Fact) -> None:
    published = Published(mono=123.4567891, wall=1_700_000_000.1234567, fact=fact)
    document = published.as_json()
    decoded = json.loads(json.dumps(document))  # plain JSON types only, no default= needed
    assert decoded["event"] == fact.kind
    assert decoded["v"] == SCHEMA_VERSION
    assert decoded["mono"] == 123.456789
    assert decoded["wall"] == 1_700_000_000.123457
    for name, field_value in fact.fields().items():
        assert decoded[name] == json.loads(json.dumps(field_value)), name
    assert set(decoded) == {"event", "v", "mono", "wall", *fact.fields()}


def test_tuples_become_lists_and_mappings_dicts() -> None:
    (started,) = [s for s in SAMPLES if isinstance(s, facts.GroupStarted)]
    document = Published(0.0, 0.0, started).as_json()
    assert document["addresses"] == ["198.51.100.100/24", "2001:db8::100/64"]
    (control,) = [s for s in SAMPLES if isinstance(s, facts.ControlRequest)]
    assert Published(0.0, 0.0, control).as_json()["arguments"] == {"mode": "+", "amount": 10}


class Clock:
    def __init__(self, start: float) -> None:
        self.now = start
        self.reads = 0

    def __call__(self) -> float:
        self.reads += 1
        return self.now


def test_facts_are_stamped_once_with_the_injected_clocks() -> None:
    mono, wall = Clock(50.0), Clock(1_700_000_000.0)
    stream = EventStream(monotonic=mono, wall=wall)
    first: list[Published] = []
    second: list[Published] = []
    stream.subscribe(first.append)
    stream.subscribe(second.append)
    stream.publish(DaemonStopping(reason="a"))
    mono.now, wall.now = 51.5, 1_700_000_002.0
    stream.publish(DaemonStopping(reason="b"))
    assert [(p.mono, p.wall) for p in first] == [(50.0, 1_700_000_000.0), (51.5, 1_700_000_002.0)]
    assert second == first  # the same stamp for every subscriber
    assert (mono.reads, wall.reads) == (2, 2)  # once per fact, not per subscriber


def test_without_subscribers_nothing_is_stamped() -> None:
    mono = Clock(1.0)
    EventStream(monotonic=mono, wall=mono).publish(DaemonStopping(reason="x"))
    assert mono.reads == 0


def test_subscribers_are_called_in_subscription_order() -> None:
    stream = EventStream()
    calls: list[str] = []

    def recorder(name: str) -> Callable[[Published], None]:
        return lambda published: calls.append(f"{name}:{published.fact.kind}")

    for name in ("a", "b", "c"):
        stream.subscribe(recorder(name))
    stream.publish(DaemonStopping(reason="x"))
    assert calls == ["a:daemon_stopping", "b:daemon_stopping", "c:daemon_stopping"]


def test_a_raising_subscriber_is_logged_and_unsubscribed_and_the_others_go_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stream = EventStream()
    before: list[str] = []
    after: list[str] = []
    broken_calls: list[str] = []

    def broken(published: Published) -> None:
        broken_calls.append(published.fact.kind)
        raise RuntimeError("consumer bug")

    stream.subscribe(lambda p: before.append(p.fact.kind))
    stream.subscribe(broken)
    stream.subscribe(lambda p: after.append(p.fact.kind))
    with caplog.at_level(logging.ERROR, logger="pycarp"):
        stream.publish(DaemonStopping(reason="1"))
        stream.publish(state_changed("BACKUP", "MASTER", "timer"))
    assert before == after == ["daemon_stopping", "state_changed"]
    assert broken_calls == ["daemon_stopping"]  # called once, then gone
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "unsubscribed" in errors[0].getMessage()
    assert errors[0].exc_info is not None
    assert "consumer bug" in caplog.text


def test_a_subscriber_that_unsubscribes_itself_while_called() -> None:
    stream = EventStream()
    seen: list[str] = []
    others: list[str] = []

    def once(published: Published) -> None:
        seen.append(published.fact.kind)
        unsubscribe()

    unsubscribe = stream.subscribe(once)
    stream.subscribe(lambda p: others.append(p.fact.kind))
    stream.publish(DaemonStopping(reason="1"))
    stream.publish(DaemonStopping(reason="2"))
    assert seen == ["daemon_stopping"]
    assert others == ["daemon_stopping", "daemon_stopping"]


def test_unsubscribe_removes_only_that_subscriber_and_is_idempotent() -> None:
    stream = EventStream()
    a: list[Any] = []
    b: list[Any] = []
    remove_a = stream.subscribe(a.append)
    stream.subscribe(b.append)
    remove_a()
    remove_a()
    stream.publish(DaemonStopping(reason="x"))
    assert a == []
    assert len(b) == 1


def test_track_facts_are_logged_in_one_line_each(caplog: pytest.LogCaptureFixture) -> None:
    stream = EventStream(monotonic=lambda: 1.0, wall=lambda: 2.0)
    stream.subscribe(log_fact)
    down, failed = (s for s in SAMPLES if s.kind in ("track_changed", "track_check_failed"))
    up = facts.TrackChanged(
        name="web", up=True, demotion=0, reason="2 successes in a row", fault=True, groups=()
    )
    with caplog.at_level(logging.INFO, logger="pycarp"):
        for fact in (failed, down, up):
            stream.publish(fact)
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (
            logging.WARNING,
            "track web: check failed: exited with status 22: "
            "curl: (22) The requested URL returned error: 503",
        ),
        (
            logging.WARNING,
            "track web: DOWN (2 failures in a row): demotion 240: handing over, staying out",
        ),
        (logging.INFO, "track web: up (2 successes in a row): demotion 0"),
    ]


def test_vrrp3_facts_are_logged_in_one_line_each(caplog: pytest.LogCaptureFixture) -> None:
    stream = EventStream(monotonic=lambda: 1.0, wall=lambda: 2.0)
    stream.subscribe(log_fact)
    started = facts.GroupStarted(
        **GROUP,
        addresses=("198.51.100.100/24",),
        advbase=1,
        advskew=0,
        link_up=True,
        signature="kernel",
        address_mode="native",
        protocol="vrrp3",
    )
    said = [s for s in SAMPLES if s.kind in ("unauthenticated", "address_list_mismatch")]
    with caplog.at_level(logging.INFO, logger="pycarp"):
        for fact in (started, *said):
            stream.publish(fact)
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.INFO, "1@eth0: started (addresses 198.51.100.100/24, VRRPv3, native addresses)"),
        (
            logging.WARNING,
            "1@eth0: VRRPv3 has no authentication: any host on eth0 can take the addresses "
            "over (priority 100, interval 0.10 s)",
        ),
        (
            logging.WARNING,
            "1@eth0: advert from 198.51.100.2 lists 198.51.100.9, we have 198.51.100.8 "
            "(accepted; 1 so far)",
        ),
    ]
