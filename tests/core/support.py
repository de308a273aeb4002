"""Shared test data and builders for the core tests: captured vectors, settings, signed adverts.

The vectors are read from ``tests/vectors`` in both of their forms (the annotated text and the
JSON with an independent field-by-field decoding), so a test can check one against the other.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import pathlib
import random
from typing import Any

from pycarp.core import events as ev
from pycarp.core import wire
from pycarp.core.actions import Action, SendAdvertisement
from pycarp.core.auth import Signer
from pycarp.core.constants import IPAddress
from pycarp.core.host import GroupKey, Host
from pycarp.core.machine import GroupMachine
from pycarp.core.settings import GroupSettings

VECTORS = pathlib.Path(__file__).resolve().parent.parent / "vectors"

# Documentation ranges only (RFC 5737 / RFC 3849); 192.0.2.x appears solely inside vectors.
OUR_SOURCE = ipaddress.IPv4Address("198.51.100.2")
LOWER_PEER = ipaddress.IPv4Address("198.51.100.1")
HIGHER_PEER = ipaddress.IPv4Address("198.51.100.3")
VIRTUAL = ipaddress.IPv4Address("198.51.100.100")
PASSPHRASE = b"correct horse"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class TextVector:
    """One packet line of a ``*.txt`` vector file, with the ``@group`` directive above it."""

    source: ipaddress.IPv4Address
    destination: ipaddress.IPv4Address
    ttl: int
    protocol: int
    payload: bytes
    group: dict[str, str]


def load_text_vectors(name: str) -> list[TextVector]:
    """Parse the vector text format documented at the top of ``ucarp_v4.txt``."""
    group: dict[str, str] = {}
    packets: list[TextVector] = []
    for raw in (VECTORS / name).read_text().splitlines():
        line = raw.strip()
        if line.startswith("# @group"):
            group = dict(word.split("=", 1) for word in line.split()[2:] if "=" in word)
        elif line and not line.startswith("#"):
            src, dst, ttl, proto, payload = (field.strip() for field in line.split(","))
            packets.append(
                TextVector(
                    source=ipaddress.IPv4Address(src),
                    destination=ipaddress.IPv4Address(dst),
                    ttl=int(ttl),
                    protocol=int(proto),
                    payload=bytes.fromhex(payload),
                    group=group,
                )
            )
    return packets


def load_json_vectors() -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = json.loads((VECTORS / "ucarp_v4.json").read_text())
    return entries


def group_settings(**overrides: Any) -> GroupSettings:
    """A valid group (vhid 7, one virtual address, our source 198.51.100.2) with overrides."""
    values: dict[str, Any] = {
        "vhid": 7,
        "passphrase": PASSPHRASE,
        "addresses": (VIRTUAL,),
        "source": OUR_SOURCE,
    }
    values.update(overrides)
    return GroupSettings(**values)


def new_machine(seed: int = 1, **overrides: Any) -> GroupMachine:
    return GroupMachine(group_settings(**overrides), random.Random(seed))


def signed_advert(
    settings: GroupSettings,
    *,
    advbase: int | None = None,
    advskew: int = 0,
    counter: int = 1000,
    vhid: int | None = None,
    demote: int = 0,
) -> bytes:
    """An advert a peer of ``settings`` would send (same passphrase and addresses)."""
    group = settings.vhid if vhid is None else vhid
    signer = Signer(settings.passphrase, group, settings.addresses, settings.signature_mode)
    adv = wire.Advertisement(
        vhid=group,
        advbase=settings.advbase if advbase is None else advbase,
        advskew=advskew,
        counter=counter,
        digest=signer.sign(counter.to_bytes(8, "big")),
        demote=demote,
    )
    return wire.encode(adv)


def received(payload: bytes, source: IPAddress = LOWER_PEER, ttl: int = 255) -> ev.PacketReceived:
    return ev.PacketReceived(payload=payload, source=source, ttl=ttl)


def sent(actions: list[Action]) -> list[SendAdvertisement]:
    return [a for a in actions if isinstance(a, SendAdvertisement)]


def kinds(actions: list[Action]) -> list[type[Action]]:
    return [type(a) for a in actions]


class Segment:
    """Hosts on one lossless wire, each a real :class:`~pycarp.core.host.Host` running one group,
    with a virtual clock (no mocks of the peer, and no feed loop of its own: the Host's).

    Every advert a group sends reaches every other wired host at the same instant, with TTL 255
    and the sender's source address, exactly as the runtime would deliver it; deliveries are
    made after the sender's feed has finished (breadth first), as a real wire would. Timers
    are the deadlines the hosts hand to ``rearm``, fired in deadline order (ties: join order).
    """

    def __init__(self, now: float = 0.0) -> None:
        self.now = now
        self.log: list[tuple[float, GroupMachine, Action]] = []
        self._hosts: dict[GroupKey, Host] = {}  # one interface name per host: keys are unique
        self._unplugged: set[GroupKey] = set()
        self._deadlines: dict[GroupKey, float] = {}
        self._outbox: list[tuple[GroupKey, bytes]] = []

    def join(
        self, settings: GroupSettings, seed: int, *, plugged: bool = True, start: bool = True
    ) -> GroupMachine:
        """A new host running ``settings`` (its counters drawn from ``random.Random(seed)``),
        started now unless ``start`` is False (then it waits in INIT for carrier)."""
        key = (f"seg{len(self._hosts)}", settings.vhid)
        host = Host(random.Random(seed), self._execute, self._rearm)
        self._hosts[key] = host
        if not plugged:
            self._unplugged.add(key)
        host.add(key[0], settings, self.now, link_up=start)
        self._deliver()
        return host.machine(key)

    def host(self, machine: GroupMachine) -> Host:
        return self._hosts[self._key(machine)]

    def plug(self, machine: GroupMachine, plugged: bool = True) -> None:
        """Connect (or cut) the host's cable without telling it: it neither hears nor is heard."""
        (self._unplugged.discard if plugged else self._unplugged.add)(self._key(machine))

    def kill(self, machine: GroupMachine) -> None:
        """The host dies silently (kill -9): no bow-out, its timer never fires again."""
        key = self._key(machine)
        del self._hosts[key]
        self._deadlines.pop(key, None)

    def feed(self, machine: GroupMachine, event: ev.Event) -> None:
        """Hand ``event`` to ``machine``'s host now, then deliver whatever adverts that causes."""
        key = self._key(machine)
        self._hosts[key].feed(key, event, self.now)
        self._deliver()

    def run_until(self, until: float) -> None:
        """Fire every host's timer, in deadline order, up to ``until``."""
        while self._deadlines:
            key = min(
                self._deadlines, key=lambda k: (self._deadlines[k], list(self._hosts).index(k))
            )
            deadline = self._deadlines[key]
            if deadline > until:
                break
            self.now = max(self.now, deadline)
            del self._deadlines[key]
            self._hosts[key].timer(key, self.now)
            self._deliver()
        self.now = max(self.now, until)

    def _key(self, machine: GroupMachine) -> GroupKey:
        return next(k for k, h in self._hosts.items() if h.machine(k) is machine)

    def _execute(self, key: GroupKey, action: Action) -> ev.Event | None:
        self.log.append((self.now, self._hosts[key].machine(key), action))
        if not isinstance(action, SendAdvertisement):
            return None
        if key not in self._unplugged:
            self._outbox.append((key, action.payload))
        return ev.SendCompleted(ok=True)

    def _rearm(self, key: GroupKey, deadline: float | None) -> None:
        if deadline is None:
            self._deadlines.pop(key, None)
        else:
            self._deadlines[key] = deadline

    def _deliver(self) -> None:
        while self._outbox:
            sender, payload = self._outbox.pop(0)
            source = (
                self._hosts[sender].machine(sender).settings.source
                if sender in self._hosts
                else None
            )
            assert source is not None, "a host on the segment needs a source address"
            for key, host in list(self._hosts.items()):
                if key != sender and key not in self._unplugged:
                    host.receive(key[0], payload, source, 255, self.now)
