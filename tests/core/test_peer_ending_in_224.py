"""A unicast peer whose address ends in .224 is a unicast peer (FreeBSD PR 284872).

FreeBSD tested "is the peer multicast" on the address without ``ntohl``, so on little-endian
hosts a peer like 203.0.113.224 looked like a multicast group (first byte 224) and its routed
adverts (TTL 254) were dropped. pycarp decides on the parsed address.
"""

from __future__ import annotations

import random

import pytest

from pycarp.config.build import PASS_ENV
from pycarp.config.flags import build_parser, config_from_args
from pycarp.core import events as ev
from pycarp.core.machine import GroupMachine
from pycarp.core.stats import DropReason

from .support import received, signed_advert


def test_a_peer_ending_in_224_is_unicast_and_its_routed_adverts_are_heard(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(PASS_ENV, "pr284872")
    argv = ["-i", "eth0", "-s", "203.0.113.2", "-v", "1", "-a", "198.51.100.100/24"]
    args = build_parser().parse_args([*argv, "--peer", "203.0.113.224", "-k", "100"])
    (group,) = config_from_args(args).groups
    assert group.settings.multicast is False
    machine = GroupMachine(group.settings, random.Random(1))
    machine.handle(ev.Started(), 0.0)
    advert = signed_advert(group.settings, counter=77)
    peer = group.destination
    assert peer is not None
    assert machine.handle(received(advert, source=peer, ttl=254), 1.0) == []
    assert machine.stats[DropReason.BAD_TTL] == 0
