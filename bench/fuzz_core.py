"""Fuzz the core: ~1.2 million random and mutated adverts into GroupMachine, in every state.

Three machines, one per home state (INIT waiting for carrier, BACKUP, MASTER), get a third of
the packets each. Most packets are mutations of a valid signed advert from a peer (bit flips,
with and without a repaired checksum, truncation, extension, another vhid / version / type /
authlen / advbase / counter / digest, another TTL, another source: IPv4, IPv6, our own),
some replay one of its recent adverts, the rest are random bytes. Time runs on a virtual
clock, a few hundred microseconds per packet, and the machine's timer is fed the moment it
is due (so the stall detector, which reacts to time and not to packets, never fires). A
valid advert may move a machine (that is the protocol); it is then put back in its home
state by an operator event, and counted.

Each packet is also judged by an independent oracle: the receive rules of docs/protocol.md
written out again here (TTL 255, length, checksum, VRRP look-alikes, version, type, authlen,
advbase, vhid, our own source, and the HMAC computed with :mod:`hmac` from the recipe, not
with :mod:`pycarp.core.auth`). For every packet the oracle calls invalid the machine must
return exactly one PacketDropped and nothing else, keep its state and its deadline. Packets
the oracle calls valid may still be dropped (a replay window, say): those are listed, not
failed. Any exception, invalid state or invalid packet that moved something makes the exit
status 1. The run is deterministic given ``--seed``: the fingerprint printed at the end
(a hash of every packet's outcome) is the same on every run with the same seed and code.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import hmac
import ipaddress
import random
import sys
import time
import traceback
import typing

from benchlib import runner
from pycarp.core import events as ev
from pycarp.core import wire
from pycarp.core.actions import PacketDropped, StateChanged
from pycarp.core.auth import Signer
from pycarp.core.constants import IPAddress
from pycarp.core.machine import GroupMachine
from pycarp.core.settings import GroupSettings
from pycarp.core.table import State

SETTINGS = GroupSettings(
    vhid=7,
    passphrase=b"fuzz-passphrase",
    addresses=(ipaddress.IPv4Address("198.51.100.100"), ipaddress.IPv6Address("2001:db8::100")),
    source=ipaddress.IPv4Address("198.51.100.1"),
    advbase=1,
    advskew=100,
)
PEER = ipaddress.IPv4Address("198.51.100.2")
MUTATIONS = (
    "flip", "flip+sum", "truncate", "extend", "vhid", "version", "type", "authlen", "advbase",
    "unsigned", "counter", "digest", "ttl", "source4", "source6", "own-source",
)  # fmt: skip
RANDOM_SHARE = 0.1  # packets that are random bytes, not mutations
VALID_SHARE = 0.05  # packets sent unmodified (a peer's real advert)
REPLAY_SHARE = 0.03  # one of the peer's last adverts again, unmodified: valid, but old


class Oracle:
    """docs/protocol.md's receive rules, restated independently of the core's code."""

    def __init__(self, settings: GroupSettings) -> None:
        v4 = sorted(a for a in settings.addresses if isinstance(a, ipaddress.IPv4Address))
        v6 = sorted(a for a in settings.addresses if isinstance(a, ipaddress.IPv6Address))
        packed = [a.packed for a in v4] + [a.packed for a in v6]
        self._prefix = bytes((2, 1, settings.vhid)) + b"".join(packed)
        self._key = settings.passphrase.ljust(20, b"\0")[:20]
        self._vhid = settings.vhid
        self._source = settings.source

    def valid(self, payload: bytes, source: IPAddress, ttl: int) -> bool:
        if ttl != 255 or len(payload) < 36:
            return False
        version = payload[0] >> 4
        if version == 3 or (version == 2 and len(payload) == 16 + 4 * payload[3]):
            return False  # VRRP v3, or VRRPv2-sized: not CARP
        head = payload[:36]
        if wire.internet_checksum(head) != 0:
            return False
        if head[0] != 0x21 or head[3] != 7 or head[5] == 0 or head[1] != self._vhid:
            return False
        if source == self._source:
            return False
        expected = hmac.new(self._key, self._prefix + head[8:16], hashlib.sha1).digest()
        return hmac.compare_digest(expected, head[16:36])


class Harness:
    """One machine kept in its home state; every outcome counted."""

    def __init__(self, home: State, seed: int) -> None:
        self.home = home
        self.machine = GroupMachine(SETTINGS, random.Random(seed))
        self.now = 1000.0
        self.counts: collections.Counter[str] = collections.Counter()
        self.valid_drops: collections.Counter[str] = collections.Counter()
        self.moves: collections.Counter[str] = collections.Counter()
        self.failures: list[str] = []
        self.machine_seconds = 0.0
        self._feed(ev.Started(link_up=home is not State.INIT))
        self._go_home()

    def _feed(self, event: ev.Event) -> list[typing.Any]:
        started = time.perf_counter()
        try:
            actions = self.machine.handle(event, self.now)
        except Exception:  # the point of the fuzz: record, go on, fail at the end
            self.failures.append(f"{type(event).__name__} in {self.machine.state}: "
                                 + traceback.format_exc(limit=3))  # fmt: skip
            actions = []
        self.machine_seconds += time.perf_counter() - started
        return actions

    def _go_home(self) -> None:
        state = self.machine.state
        if state is self.home or self.home is State.INIT:
            return
        forced = ev.ForcedState.MASTER if self.home is State.MASTER else ev.ForcedState.BACKUP
        self._feed(ev.AdminForced(state=forced))
        self.counts["put back home"] += 1

    def advance(self, seconds: float) -> None:
        """Let virtual time pass; the timer fires the moment it is due, as a runtime's would."""
        self.now += seconds
        deadline = self.machine.next_deadline
        if deadline is not None and deadline <= self.now:
            before = self.machine.state
            self._feed(ev.TimerExpired())
            if self.machine.state is not before:
                self.moves[f"timer: {before.value} -> {self.machine.state.value}"] += 1
            self._go_home()

    def packet(self, kind: str, payload: bytes, source: IPAddress, ttl: int, valid: bool) -> str:
        """Feed one packet and check the invariants; returns its outcome for the fingerprint."""
        before, deadline = self.machine.state, self.machine.next_deadline
        drops_before = self.machine.stats.total
        actions = self._feed(ev.PacketReceived(payload=payload, source=source, ttl=ttl))
        dropped = [a for a in actions if isinstance(a, PacketDropped)]
        changes = [a for a in actions if isinstance(a, StateChanged)]
        self.counts["packets"] += 1
        self.counts["valid" if valid else "invalid"] += 1
        if not valid:
            if self.machine.state is not before or changes:
                self.failures.append(f"invalid {kind} moved {before} -> {self.machine.state}")
                self.moves["INVALID packet"] += 1
            if len(dropped) != 1 or len(actions) != 1:
                self.failures.append(f"invalid {kind}: actions {actions}")
            if self.machine.next_deadline != deadline:
                self.failures.append(f"invalid {kind} moved the deadline in {before}")
        elif dropped:
            self.valid_drops[dropped[0].reason.value] += 1
        if len(dropped) != self.machine.stats.total - drops_before:
            self.failures.append(f"{kind}: {len(dropped)} drop actions, counter moved otherwise")
        if changes:
            self.moves[f"valid: {before.value} -> {self.machine.state.value}"] += 1
        self._check_state()
        outcome = f"{kind}:{int(valid)}:{self.machine.state.value}:" + ",".join(
            type(a).__name__ for a in actions
        )
        self._go_home()
        return outcome

    def _check_state(self) -> None:
        state, deadline = self.machine.state, self.machine.next_deadline
        if state not in (State.INIT, State.BACKUP, State.MASTER):
            self.failures.append(f"unknown state {state!r}")
        if (deadline is None) != (state is State.INIT):
            self.failures.append(f"state {state.value} with deadline {deadline}")


class Generator:
    """Valid adverts from the peer, their mutations and random bytes, from one seeded RNG."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self._signer = Signer(SETTINGS.passphrase, SETTINGS.vhid, SETTINGS.addresses)
        self._counter = rng.getrandbits(64)
        self._recent: collections.deque[bytes] = collections.deque(maxlen=64)

    def valid(self) -> bytes:
        self._counter = (self._counter + 1) % 2**64
        advskew = self.rng.choice((0, 50, 100, 150, 254))
        advert = wire.Advertisement(
            vhid=SETTINGS.vhid,
            advbase=self.rng.choice((1, 1, 1, 2)),
            advskew=advskew,
            counter=self._counter,
            digest=self._signer.sign(self._counter.to_bytes(8, "big")),
        )
        payload = wire.encode(advert)
        self._recent.append(payload)
        return payload

    def next(self) -> tuple[str, bytes, IPAddress, int]:
        rng = self.rng
        draw = rng.random()
        if draw < RANDOM_SHARE:
            payload = rng.randbytes(rng.choice((rng.randrange(0, 80), 36)))
            return "random", payload, PEER, rng.choice((255, 255, rng.randrange(256)))
        if draw < RANDOM_SHARE + VALID_SHARE:
            return "valid", self.valid(), PEER, 255
        if draw < RANDOM_SHARE + VALID_SHARE + REPLAY_SHARE and self._recent:
            return "replay", rng.choice(self._recent), PEER, 255
        kinds = rng.sample(MUTATIONS, rng.choice((1, 1, 1, 2, 3)))
        mutated, source, ttl = bytearray(self.valid()), typing.cast(IPAddress, PEER), 255
        for kind in kinds:
            mutated, source, ttl = self._mutate(kind, mutated, source, ttl)
        return "+".join(sorted(kinds)), bytes(mutated), source, ttl

    def _mutate(
        self, kind: str, p: bytearray, source: IPAddress, ttl: int
    ) -> tuple[bytearray, IPAddress, int]:
        rng = self.rng
        resum = True
        match kind:
            case "flip" | "flip+sum":
                for _ in range(rng.randint(1, 3)):
                    if p:
                        p[rng.randrange(len(p))] ^= 1 << rng.randrange(8)
                resum = kind == "flip+sum"
            case "truncate":
                p, resum = p[: rng.randrange(0, 36)], False
            case "extend":
                p += rng.randbytes(rng.randint(1, 64))
            case "vhid":
                _put(p, 1, rng.randrange(256))
            case "version":
                _put(p, 0, (rng.randrange(16) << 4) | (p[0] & 0x0F) if p else 0)
            case "type":
                _put(p, 0, (p[0] & 0xF0) | rng.randrange(16) if p else 0)
            case "authlen":
                _put(p, 3, rng.randrange(256))
            case "advbase":
                _put(p, 5, rng.choice((0, rng.randrange(256))))
            case "unsigned":  # advskew and demote: on the wire, outside the HMAC
                _put(p, 2, rng.randrange(256))
                _put(p, 4, rng.randrange(256))
            case "counter":
                p[8:16] = rng.randbytes(8)[: max(0, len(p) - 8)]
            case "digest":
                p[16:36] = rng.randbytes(20)[: max(0, len(p) - 16)]
            case "ttl":
                ttl = rng.choice((0, 1, 64, 128, 254, 255, rng.randrange(256)))
            case "source4":
                source = ipaddress.IPv4Address(rng.getrandbits(32))
            case "source6":
                source = ipaddress.IPv6Address(rng.getrandbits(128))
            case "own-source":
                source = typing.cast(IPAddress, SETTINGS.source)
        if resum and len(p) >= 36:
            p[6:8] = b"\0\0"
            p[6:8] = wire.internet_checksum(bytes(p[:36])).to_bytes(2, "big")
        return p, source, ttl


def _put(packet: bytearray, offset: int, value: int) -> None:
    """Set one byte, if the (maybe truncated) packet still has it."""
    if offset < len(packet):
        packet[offset] = value


def run(packets: int, seed: int) -> tuple[list[Harness], str, float]:
    rng = random.Random(seed)
    oracle = Oracle(SETTINGS)
    generator = Generator(rng)
    harnesses = [Harness(home, seed + i) for i, home in enumerate(State)]
    fingerprint = hashlib.sha256()
    started = time.perf_counter()
    for index in range(packets):
        harness = harnesses[index % len(harnesses)]
        harness.advance(rng.uniform(0, 0.0006))
        kind, payload, source, ttl = generator.next()
        valid = oracle.valid(payload, source, ttl)
        fingerprint.update(harness.packet(kind, payload, source, ttl, valid).encode())
    return harnesses, fingerprint.hexdigest()[:16], time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--packets", type=int, default=1_200_000, help="default 1,200,000")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="60,000 packets")
    args = parser.parse_args()
    packets = 60_000 if args.quick else args.packets
    runner.header(f"core fuzz: {packets} packets, seed {args.seed}")
    harnesses, fingerprint, seconds = run(packets, args.seed)
    machine = sum(h.machine_seconds for h in harnesses)
    print(
        f"{packets} packets in {seconds:.1f} s: {packets / seconds:,.0f}/s with generation and "
        f"oracle; {packets / machine:,.0f}/s inside GroupMachine.handle"
    )
    rows = [["home state", "packets", "valid", "invalid", "put back", "drops by reason"]]
    for h in harnesses:
        drops = ", ".join(f"{k}={v}" for k, v in h.machine.stats.as_dict().items() if v)
        rows.append(
            [h.home.value, str(h.counts["packets"]), str(h.counts["valid"]),
             str(h.counts["invalid"]), str(h.counts["put back home"]), drops]
        )  # fmt: skip
    print(runner.table(rows))
    for h in harnesses:
        moves = ", ".join(f"{k}: {v}" for k, v in sorted(h.moves.items())) or "none"
        print(f"{h.home.value}: state changes: {moves}")
        if h.valid_drops:
            print(f"{h.home.value}: valid per the oracle but dropped: {dict(h.valid_drops)}")
    failures = [f for h in harnesses for f in h.failures]
    invalid_moves = sum(h.moves["INVALID packet"] for h in harnesses)
    print(f"state changes caused by invalid packets: {invalid_moves} (must be 0)")
    print(f"exceptions and broken invariants: {len(failures)} (must be 0)")
    for failure in failures[:10]:
        print(f"  {failure.rstrip()}")
    print(f"fingerprint (same seed, same code -> same value): {fingerprint}")
    runner.footer()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
