"""The daemon's log, as one consumer of the event stream.

Log lines are written from facts, never the other way round: whatever a log line says, the
event stream said first (and ``--events``, metrics and the status agree with it). The wording
follows FreeBSD where it has one (``1@eth0: BACKUP -> MASTER (master-down timer expired)``).
"""

from __future__ import annotations

import logging

from pycarp.observe import facts
from pycarp.observe.stream import Published

log = logging.getLogger("pycarp")

# Drops that say something is wrong on the segment (a wrong key, a router in the path, a
# replay): a warning. Other drops (a peer of another version, a truncated packet) are debug.
LOUD_DROPS = frozenset({"bad_auth", "bad_ttl", "own_counter", "replay"})


def log_fact(published: Published) -> None:
    match published.fact:
        case facts.StateChanged() as f:
            log.info("%s: %s -> %s (%s)", f.group, f.old, f.new, f.reason)
        case facts.AddressChanged() as f if f.error:
            verb = "add" if f.added else "remove"
            log.error("%s: cannot %s %s: %s", f.group, verb, f.address, f.error)
        case facts.AddressChanged() as f:
            verb = "added" if f.added else "removed"
            log.info(
                "%s: %s %s on %s (%.1f ms)", f.group, verb, f.address, f.interface, f.latency_ms
            )
        case facts.Announced() as f if f.error:
            log.warning("%s: gratuitous ARP/NA failed: %s", f.group, f.error)
        case facts.PacketDropped() as f:
            where = f.group or f"{f.interface} (no such group here)"
            level = logging.WARNING if f.reason in LOUD_DROPS else logging.DEBUG
            log.log(level, "%s: dropped advert %s (%s)", where, f.detail, f.reason)
        case facts.GroupStarted() as f:
            protocol = (
                "VRRPv3"
                if f.protocol == "vrrp3"
                else f"advbase {f.advbase}, advskew {f.advskew}, {f.signature} signature"
            )
            log.info(
                "%s: started (addresses %s, %s, %s addresses)",
                f.group,
                ", ".join(f.addresses),
                protocol,
                "native" if f.address_mode == "native" else "script-managed",
            )
            if not f.link_up:
                log.warning("%s: no carrier on %s: waiting in INIT", f.group, f.interface)
        case facts.PassphraseCut() as f:
            log.warning("%s", passphrase_cut_line(f.groups, f.used, f.longest))
        case facts.Unauthenticated() as f:
            log.warning(
                "%s: %s has no authentication: any host on %s can take the addresses over "
                "(priority %d, interval %.2f s)",
                f.group,
                "VRRPv3" if f.protocol == "vrrp3" else f.protocol,
                f.interface,
                f.priority,
                f.interval,
            )
        case facts.AddressListMismatch() as f:
            log.warning(
                "%s: advert from %s lists %s, we have %s (accepted; %d so far)",
                f.group,
                f.source,
                ", ".join(f.theirs) or "no address",
                ", ".join(f.ours),
                f.count,
            )
        case facts.DemotionChanged() as f:
            sources = ", ".join(f"{k} {v}" for k, v in f.sources.items()) or "none"
            log.info(
                "%s: demotion %d (%s): advskew on the wire %d",
                f.group,
                f.demotion,
                sources,
                f.advskew_on_wire,
            )
        case facts.ControlRequest() as f:
            who = "signal" if f.uid < 0 else f"uid {f.uid}"
            level = logging.INFO if f.ok else logging.WARNING
            log.log(level, "control: %s asked %s: %s", who, f.command, f.message)
        case facts.VirtualMacAttached() as f:
            changed = f"; set {', '.join(f.settings_changed)}" if f.settings_changed else ""
            log.info("%s: on %s (MAC %s)%s", f.group, f.vmac_interface, f.mac, changed)
        case facts.CarrierChanged() as f:
            log.warning("%s: carrier %s", f.interface, "up" if f.up else "lost")
        case facts.TrackChanged() as f:
            state = "up" if f.up else "DOWN"
            effect = f"demotion {f.demotion}" + (
                ": handing over, staying out" if f.fault and not f.up else ""
            )
            level = logging.INFO if f.up else logging.WARNING
            log.log(level, "track %s: %s (%s): %s", f.name, state, f.reason, effect)
        case facts.TrackCheckFailed() as f:
            tail = f": {' | '.join(f.output)}" if f.output else ""
            log.warning("track %s: check %s: %s%s", f.name, f.result, f.detail, tail)
        case facts.DaemonStopping() as f:
            log.info("shutting down: %s", f.reason)
        case _:
            return


GROUPS_NAMED = 5  # a warning about 10,000 groups names a few and counts the rest


def passphrase_cut_line(groups: tuple[str, ...], used: int, longest: int) -> str:
    """One line for the log and for ``--check-config``: which groups, how many bytes count."""
    named = ", ".join(groups[:GROUPS_NAMED])
    if len(groups) > GROUPS_NAMED:
        named += f" and {len(groups) - GROUPS_NAMED} more"
    return (
        f"{named}: passphrase longer than {used} bytes (up to {longest}): only its first {used} "
        f"bytes count, as with FreeBSD/OpenBSD `ifconfig ... pass` (ucarp refuses it); "
        "for a raw key of up to 20 bytes give --key-hex / key_hex"
    )
