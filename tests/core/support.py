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
from pycarp.core.auth import IPAddress, Signer
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
    )
    return wire.encode(adv)


def received(payload: bytes, source: IPAddress = LOWER_PEER, ttl: int = 255) -> ev.PacketReceived:
    return ev.PacketReceived(payload=payload, source=source, ttl=ttl)


def sent(actions: list[Action]) -> list[SendAdvertisement]:
    return [a for a in actions if isinstance(a, SendAdvertisement)]


def kinds(actions: list[Action]) -> list[type[Action]]:
    return [type(a) for a in actions]


class Segment:
    """Real machines on one lossless wire, with a virtual clock (no mocks of the peer).

    Every advert a machine sends reaches every other attached machine at the same instant, with
    TTL 255 and the sender's source address, exactly as the runtime would deliver it.
    """

    def __init__(self, *machines: GroupMachine, now: float = 0.0) -> None:
        self.machines = list(machines)
        self.now = now
        self.log: list[tuple[float, GroupMachine, Action]] = []

    def feed(self, machine: GroupMachine, event: ev.Event) -> list[Action]:
        """Hand ``event`` to ``machine`` now, then deliver whatever adverts that causes."""
        first = machine.handle(event, self.now)
        pending = [(machine, first)]
        while pending:
            sender, actions = pending.pop(0)
            for action in actions:
                self.log.append((self.now, sender, action))
                if not isinstance(action, SendAdvertisement):
                    continue
                for other in self.machines:
                    if other is not sender and sender.settings.source is not None:
                        packet = received(action.payload, source=sender.settings.source)
                        pending.append((other, other.handle(packet, self.now)))
        return first

    def run_until(self, until: float) -> None:
        """Fire every machine's timer, in deadline order, up to ``until``."""
        while True:
            due = [m for m in self.machines if m.next_deadline is not None]
            if not due:
                break
            machine = min(due, key=lambda m: m.next_deadline or 0.0)
            deadline = machine.next_deadline
            assert deadline is not None
            if deadline > until:
                break
            self.now = deadline
            self.feed(machine, ev.TimerExpired())
        self.now = max(self.now, until)
