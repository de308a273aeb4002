"""Properties of GroupMachine under random input: no exception escapes, invariants hold."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from pycarp.core import events as ev
from pycarp.core.actions import Action, PacketDropped, SendAdvertisement, StateChanged
from pycarp.core.constants import IPAddress
from pycarp.core.machine import GroupMachine
from pycarp.core.table import State

from .support import LOWER_PEER, OUR_SOURCE, new_machine, signed_advert

addresses: st.SearchStrategy[IPAddress] = st.one_of(
    st.sampled_from([LOWER_PEER, OUR_SOURCE, ipaddress.IPv6Address("fe80::1")]),
    st.ip_addresses(),
)


def _payloads(machine: GroupMachine) -> st.SearchStrategy[bytes]:
    """Random bytes, and well-signed adverts (any timing), and those with a byte changed."""
    signed = st.builds(
        lambda advbase, advskew, counter: signed_advert(
            machine.settings, advbase=advbase, advskew=advskew, counter=counter
        ),
        st.integers(1, 255),
        st.integers(0, 255),
        st.integers(0, 2**64 - 1),
    )

    def poke(payload: bytes, offset: int, value: int) -> bytes:
        return payload[:offset] + bytes((value,)) + payload[offset + 1 :]

    poked = st.builds(poke, signed, st.integers(0, 35), st.integers(0, 255))
    return st.one_of(st.binary(max_size=64), signed, poked)


def _in_state(state: State) -> GroupMachine:
    machine = new_machine(advskew=50)
    if state is not State.INIT:
        machine.handle(ev.Started(), 0.0)
    if state is State.MASTER:
        machine.handle(ev.TimerExpired(), 3.5)
    assert machine.state is state
    return machine


@pytest.mark.parametrize("state", list(State))
@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_packets_never_raise_in_any_state(state: State, data: st.DataObject) -> None:
    machine = _in_state(state)
    payload = data.draw(_payloads(machine))
    ttl = data.draw(st.integers(0, 255))
    source = data.draw(addresses)
    actions = machine.handle(ev.PacketReceived(payload=payload, source=source, ttl=ttl), 4.0)
    assert all(isinstance(a, Action) for a in actions)
    dropped = [a for a in actions if isinstance(a, PacketDropped)]
    assert machine.stats.total == len(dropped) <= 1
    assert (machine.next_deadline is None) == (machine.state is State.INIT)


class GroupUnderRandomEvents(RuleBasedStateMachine):
    """Any sequence of events, at any (non-decreasing) times, keeps the machine consistent."""

    def __init__(self) -> None:
        super().__init__()
        self.machine = new_machine(seed=3, advskew=30, preempt=True)
        self.now = 0.0
        self.drops = 0
        self.last_event_at = -1.0

    def _feed(self, event: ev.Event) -> None:
        before = self.machine.state
        deadline_before = self.machine.next_deadline
        actions = self.machine.handle(event, self.now)
        if self.machine.next_deadline != deadline_before:
            self.last_event_at = self.now
        changes = [a for a in actions if isinstance(a, StateChanged)]
        assert len(changes) <= 1
        if changes:
            assert changes[0].old is before
            assert changes[0].new is self.machine.state is not before
        else:
            assert self.machine.state is before
        for action in actions:
            if isinstance(action, SendAdvertisement):
                assert len(action.payload) == 36 or action.priority is not None  # VRRPv3
                # A bow-out leaves MASTER: for good (INIT), or handing over (forced backup,
                # maintenance, SIGUSR2: BACKUP).
                handed_over = before is State.MASTER and self.machine.state is State.BACKUP
                handing = isinstance(event, ev.AdminForced | ev.HandOverRequested)
                assert action.bow_out is (
                    self.machine.state is State.INIT or (handed_over and handing)
                )
        self.drops += sum(isinstance(a, PacketDropped) for a in actions)

    @rule(seconds=st.floats(0.0, 10.0))
    def wait(self, seconds: float) -> None:
        self.now += seconds

    @precondition(lambda self: self.machine.next_deadline is not None)
    @rule()
    def timer_fires(self) -> None:
        assert self.machine.next_deadline is not None
        self.now = max(self.now, self.machine.next_deadline)
        self._feed(ev.TimerExpired())

    @rule()
    def timer_wakes_early(self) -> None:
        self._feed(ev.TimerExpired())

    @rule(link_up=st.booleans())
    def start(self, link_up: bool) -> None:
        self._feed(ev.Started(link_up=link_up))

    @rule(up=st.booleans())
    def carrier(self, up: bool) -> None:
        self._feed(ev.LinkChanged(up=up))

    @rule(state=st.sampled_from(ev.ForcedState))
    def operator(self, state: ev.ForcedState) -> None:
        self._feed(ev.AdminForced(state=state))

    @rule()
    def shutdown(self) -> None:
        self._feed(ev.ShutdownRequested())

    @rule(demotion=st.integers(-300, 300))
    def demotion(self, demotion: int) -> None:
        self._feed(ev.DemotionChanged(demotion=demotion))

    @rule(ok=st.booleans())
    def send_result(self, ok: bool) -> None:
        self._feed(ev.SendCompleted(ok=ok))

    @rule(data=st.data(), ttl=st.sampled_from([255, 255, 255, 1]), source=addresses)
    def packet(self, data: st.DataObject, ttl: int, source: IPAddress) -> None:
        payload = data.draw(_payloads(self.machine))
        self._feed(ev.PacketReceived(payload=payload, source=source, ttl=ttl))

    @invariant()
    def deadline_exactly_outside_init(self) -> None:
        assert self.machine.state in set(State)
        assert (self.machine.next_deadline is None) == (self.machine.state is State.INIT)
        if self.machine.state is State.MASTER:
            assert self.machine.next_deadline is not None

    @invariant()
    def deadlines_are_never_set_in_the_past(self) -> None:
        deadline = self.machine.next_deadline
        assert deadline is None or deadline > self.last_event_at

    @invariant()
    def drops_are_counted(self) -> None:
        assert self.machine.stats.total == self.drops

    @invariant()
    def advskew_on_the_wire_fits(self) -> None:
        assert 0 <= self.machine.advskew_on_wire <= 240


GroupUnderRandomEvents.TestCase.settings = settings(
    max_examples=60, stateful_step_count=40, deadline=None
)
test_group_under_random_events = GroupUnderRandomEvents.TestCase
