"""OpenBSD peers: the digest without IPv6 link-local addresses, and the constant counter.

OpenBSD (ip_carp.c 1.370, ``carp_prepare_ad``) signs its adverts with a second HMAC context
that leaves the group's IPv6 link-local addresses out, and accepts either context; its counter
is one random cookie per vhost, sent unchanged forever. The digests here are built by hand from
the recipe (protocol.md sections 2 and 6) and :func:`hmac.new`, independently of
``pycarp.core.auth``.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from typing import Any

from pycarp.core import events as ev
from pycarp.core import wire
from pycarp.core.auth import SignatureMode, Signer
from pycarp.core.machine import GroupMachine
from pycarp.core.stats import DropReason
from pycarp.core.table import State

from .support import HIGHER_PEER, LOWER_PEER, new_machine, received, sent, signed_advert

V4 = ipaddress.IPv4Address
V6 = ipaddress.IPv6Address
KEY = b"openbsd-s3cret"
VHID = 12
GROUP = (V4("198.51.100.10"), V6("fe80::10"), V6("2001:db8::10"))
COOKIE = 0x5EED_C00C_1E00_0001
# By hand: 02 01 vhid, the IPv4 address, then the IPv6 ones sorted byte-wise.
ALL_ADDRESSES = (
    bytes((2, 1, VHID))
    + bytes((198, 51, 100, 10))
    + bytes.fromhex("20010db8000000000000000000000010")
    + bytes.fromhex("fe800000000000000000000000000010")
)
WITHOUT_LINK_LOCAL = bytes((2, 1, VHID)) + bytes((198, 51, 100, 10)) + ALL_ADDRESSES[7:23]


def by_hand(message: bytes, counter: int = COOKIE) -> bytes:
    return hmac.new(KEY, message + counter.to_bytes(8, "big"), hashlib.sha1).digest()


def test_the_two_forms_differ_and_a_kernel_mode_group_accepts_both() -> None:
    assert WITHOUT_LINK_LOCAL.hex() == "02010cc633640a20010db8000000000000000000000010"
    counter = COOKIE.to_bytes(8, "big")
    freebsd, openbsd = by_hand(ALL_ADDRESSES), by_hand(WITHOUT_LINK_LOCAL)
    assert freebsd != openbsd
    signer = Signer(KEY, VHID, GROUP)
    assert signer.sign(counter) == freebsd  # what pycarp sends: FreeBSD's form
    assert signer.sign_openbsd(counter) == openbsd
    assert signer.verify(counter, freebsd)
    assert signer.verify(counter, openbsd)
    assert not signer.verify(counter, by_hand(ALL_ADDRESSES, COOKIE + 1))


def test_only_the_openbsd_form_of_this_group_is_accepted_not_any_subset() -> None:
    counter = COOKIE.to_bytes(8, "big")
    signer = Signer(KEY, VHID, GROUP)
    only_v4 = bytes((2, 1, VHID)) + bytes((198, 51, 100, 10))
    assert not signer.verify(counter, by_hand(only_v4))
    assert not Signer(KEY, VHID, GROUP, SignatureMode.UCARP).verify(
        counter, by_hand(WITHOUT_LINK_LOCAL)
    )


def test_a_group_without_link_local_addresses_has_one_form() -> None:
    signer = Signer(KEY, VHID, GROUP[::2])
    assert signer.sign_openbsd(COOKIE.to_bytes(8, "big")) is None
    assert signer.sign(COOKIE.to_bytes(8, "big")) == by_hand(WITHOUT_LINK_LOCAL)


def test_a_ucarp_mode_group_is_told_the_openbsd_form_is_kernel_mode() -> None:
    signer = Signer(KEY, VHID, GROUP, SignatureMode.UCARP)
    hint = signer.explain_mismatch(COOKIE.to_bytes(8, "big"), by_hand(WITHOUT_LINK_LOCAL))
    assert hint is not None
    assert "set signature mode to kernel" in hint


def openbsd_advert(advskew: int, counter: int = COOKIE) -> bytes:
    adv = wire.Advertisement(
        vhid=VHID,
        advbase=1,
        advskew=advskew,
        counter=counter,
        digest=by_hand(WITHOUT_LINK_LOCAL, counter),
    )
    return wire.encode(adv)


def openbsd_group(**overrides: Any) -> GroupMachine:
    return new_machine(vhid=VHID, passphrase=KEY, addresses=GROUP, **overrides)


def test_a_backup_follows_an_openbsd_master_sending_one_cookie_for_a_minute() -> None:
    machine = openbsd_group(advskew=100)
    machine.handle(ev.Started(), 0.0)
    for second in range(1, 61):
        assert machine.handle(received(openbsd_advert(0)), float(second)) == []
    assert machine.state is State.BACKUP
    assert machine.stats.total == 0


def test_a_slower_master_yields_to_an_openbsd_peer_and_a_faster_one_hears_it_repeat() -> None:
    slow = openbsd_group(advskew=100)
    slow.handle(ev.Started(), 0.0)
    assert slow.next_deadline is not None
    slow.handle(ev.TimerExpired(), slow.next_deadline)
    was = slow.state
    slow.handle(received(openbsd_advert(0)), 5.0)
    assert (was, slow.state) == (State.MASTER, State.BACKUP)

    fast = openbsd_group(advskew=0)
    fast.handle(ev.Started(), 0.0)
    assert fast.next_deadline is not None
    fast.handle(ev.TimerExpired(), fast.next_deadline)
    for second in range(5, 25):  # the peer (still master for a moment) repeats its cookie
        fast.handle(received(openbsd_advert(200)), float(second))
    assert fast.state is State.MASTER
    assert fast.stats.total == 0


def test_an_openbsd_cookie_that_a_freebsd_master_continued_from_is_not_a_replay() -> None:
    """FreeBSD adopts the last counter it heard and counts on: after it took over from an
    OpenBSD master, its count starts just past that master's cookie. When the FreeBSD master
    goes away and the OpenBSD one is master again, its cookie must still be heard."""
    machine = new_machine(advskew=200)
    machine.handle(ev.Started(), 0.0)
    cookie = 5000
    openbsd, freebsd = LOWER_PEER, HIGHER_PEER
    now = 0.0
    for _ in range(3):  # the OpenBSD master, its cookie unchanged
        now += 1.0
        machine.handle(received(signed_advert(machine.settings, counter=cookie), openbsd), now)
    for counter in range(cookie + 1, cookie + 11):  # FreeBSD took over: cookie + 1, + 2 ...
        now += 1.0
        advert = signed_advert(machine.settings, advskew=100, counter=counter)
        machine.handle(received(advert, freebsd), now)
    for _ in range(30):  # the FreeBSD master is gone; the OpenBSD one advertises again
        now += 1.0
        advert = signed_advert(machine.settings, counter=cookie)
        assert machine.handle(received(advert, openbsd), now) == []
    assert machine.state is State.BACKUP
    assert machine.stats.total == 0


def test_a_backup_that_never_heard_the_cookie_before_hears_it_too() -> None:
    """Started while the FreeBSD master counted: the cookie lies before everything we heard."""
    machine = new_machine(advskew=200)
    machine.handle(ev.Started(), 0.0)
    for second, counter in enumerate(range(9000, 9010), start=1):
        advert = signed_advert(machine.settings, advskew=100, counter=counter)
        machine.handle(received(advert, HIGHER_PEER), float(second))
    for second in range(11, 41):
        advert = signed_advert(machine.settings, counter=8950)
        assert machine.handle(received(advert, LOWER_PEER), float(second)) == []
    assert machine.state is State.BACKUP
    assert machine.stats.total == 0
    # ... while the FreeBSD master's own counters, replayed from any address, still are replays
    replayed = signed_advert(machine.settings, advskew=100, counter=9005)
    machine.handle(received(replayed, LOWER_PEER), 41.0)
    assert machine.stats[DropReason.REPLAY] == 1


def test_our_own_counter_heard_back_is_still_dropped() -> None:
    machine = new_machine(source=HIGHER_PEER)
    machine.handle(ev.Started(), 0.0)
    assert machine.next_deadline is not None
    [first] = sent(machine.handle(ev.TimerExpired(), machine.next_deadline))
    for attempt in range(5):  # a loop, or a replay: the same counter again and again
        machine.handle(received(first.payload, LOWER_PEER), 4.0 + attempt)
    assert machine.state is State.MASTER
    assert machine.stats[DropReason.OWN_COUNTER] == 5
