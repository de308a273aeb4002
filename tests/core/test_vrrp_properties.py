"""A VRRPv3 group under random input: the same invariants as a CARP group's, with VRRPv3
adverts (any priority, interval, address list, valid or damaged) instead of CARP's."""

from __future__ import annotations

import random

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import invariant, rule

from pycarp.core import events as ev
from pycarp.core import vrrpwire
from pycarp.core.constants import IPAddress
from pycarp.core.machine import GroupMachine
from pycarp.core.vrrpwire import ChecksumMode, VrrpAdvertisement

from .support import HIGHER_PEER, LOWER_PEER, OUR_SOURCE, VIRTUAL
from .test_machine_properties import GroupUnderRandomEvents
from .test_vrrp import vrrp_settings

SOURCES = st.sampled_from([LOWER_PEER, HIGHER_PEER, OUR_SOURCE])


def _payloads(source: IPAddress) -> st.SearchStrategy[bytes]:
    adverts = st.builds(
        lambda vrid, priority, interval, listed, mode: vrrpwire.encode(
            VrrpAdvertisement(vrid=vrid, priority=priority, interval_cs=interval, addresses=listed),
            source,
            vrrpwire.group_address(source),
            mode,
        ),
        st.sampled_from([7, 7, 7, 8]),
        st.integers(0, 255),
        st.integers(1, 4095),
        st.sampled_from([(VIRTUAL,), (LOWER_PEER,), ()]),
        st.sampled_from(list(ChecksumMode)),
    )

    def poke(payload: bytes, offset: int, value: int) -> bytes:
        offset %= len(payload)
        return payload[:offset] + bytes((value,)) + payload[offset + 1 :]

    poked = st.builds(poke, adverts, st.integers(0, 15), st.integers(0, 255))
    return st.one_of(st.binary(max_size=24), adverts, poked)


class VrrpGroupUnderRandomEvents(GroupUnderRandomEvents):
    def __init__(self) -> None:
        super().__init__()
        self.machine = GroupMachine(
            vrrp_settings(priority=150, interval_cs=10, preempt_delay=0.5), random.Random(3)
        )

    @rule(data=st.data(), ttl=st.sampled_from([255, 255, 255, 1]), source=SOURCES)
    def packet(self, data: st.DataObject, ttl: int, source: IPAddress) -> None:
        payload = data.draw(_payloads(source))
        self._feed(ev.PacketReceived(payload=payload, source=source, ttl=ttl))

    @invariant()
    def priority_on_the_wire_fits(self) -> None:
        rules = self.machine.vrrp
        assert rules is not None
        assert 1 <= rules.priority(self.machine.demotion) <= 254
        assert 1 <= rules.active_interval_cs <= vrrpwire.MAX_INTERVAL_CS


VrrpGroupUnderRandomEvents.TestCase.settings = settings(
    max_examples=60, stateful_step_count=40, deadline=None
)
test_vrrp_group_under_random_events = VrrpGroupUnderRandomEvents.TestCase
