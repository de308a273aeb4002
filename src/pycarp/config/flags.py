"""ucarp 1.5.2's command line, option for option, plus pycarp's extensions.

Every ucarp flag keeps its long and short form and its meaning, so an existing ucarp command line
runs unchanged. Extensions: ``--addr`` may repeat and take ``/prefix``; ``--signature-mode``,
``--address-mode``, ``--notify``, ``--peer``, ``--script-timeout`` and ``--config`` (a TOML file
describing many groups on many interfaces).
"""

from __future__ import annotations

import argparse
import ipaddress
import pathlib
import typing

from pycarp.config.build import PASS_ENV, RawGroup, build_group
from pycarp.config.facility import parse_facility
from pycarp.config.model import (
    DEFAULT_SCRIPT_TIMEOUT,
    ConfigError,
    DaemonConfig,
    parse_ip,
)
from pycarp.config.operate import FLAG_NAMES as OPERATE_FLAGS
from pycarp.config.operate import RUN_DIR, Operate, resolve
from pycarp.config.toml import load_config_and_options
from pycarp.config.tracks import TRACK_FLAGS, track_from_flags
from pycarp.core.constants import CARP_GROUP_V4
from pycarp.core.settings import SETTING_RANGES as _RANGES

FLAG_NAMES = {
    "interface": "--interface",
    "source": "--srcip",
    "vhid": "--vhid",
    "passphrase": "--pass",
    "passfile": "--passfile",
    "pass_env": PASS_ENV,
    "key_hex": "--key-hex",
    "addresses": "--addr",
    "advbase": "--advbase",
    "advskew": "--advskew",
    "dead_ratio": "--deadratio",
    "signature_mode": "--signature-mode",
    "demote_on_wire": "--demote-on-wire",
    "address_mode": "--address-mode",
    "upscript": "--upscript",
    "downscript": "--downscript",
    "notify": "--notify",
    "destination": "--peer",
    "script_timeout": "--script-timeout",
    "protocol": "--vrrp3",
    "priority": "--priority",
    "interval": "--interval",
    "preempt_delay": "--preempt-delay",
    "vrrp_checksum": "--vrrp-checksum",
}

_EPILOG = f"""\
The passphrase: prefer --passfile FILE (first line of FILE) or the {PASS_ENV} environment
variable; --pass works as in ucarp but shows in `ps` to every user on the host. Only its first
19 bytes count, as with FreeBSD/OpenBSD `ifconfig ... pass` (a longer one is warned about; ucarp
refuses it). --key-hex HEX gives the raw key instead (1-20 bytes, every one counts), for groups
whose key was set over netlink/ioctl; it excludes --pass/--passfile.

Addresses: by default (--address-mode auto) pycarp adds and removes the --addr addresses itself,
unless an --upscript/--downscript is given: then, exactly as under ucarp, the scripts do it.
Scripts are called as `SCRIPT <interface> <address> [xparam]` (once per address), without a
shell, with PYCARP_VHID, PYCARP_INTERFACE, PYCARP_ADDRESSES, PYCARP_OLD_STATE, PYCARP_NEW_STATE
and PYCARP_REASON in their environment (never the passphrase). Hooks run through setpriv
without the daemon's capabilities: none with native addresses, only CAP_NET_ADMIN and
CAP_NET_RAW when scripts manage the addresses.

Privileges: pycarp needs CAP_NET_RAW and CAP_NET_ADMIN, not root: run it as root or as a user
holding both (contrib/systemd/pycarp@.service runs it as user pycarp). --check-config needs
neither: it validates the configuration and the host, prints a summary and exits (0 or 2).

Signals: TERM/INT bow out (a backup takes over within one interval), release the addresses and
exit 0 (a repeated signal changes nothing); HUP re-reads --config; USR1 logs the status of
every group; USR2 makes every master hand over (a bow-out, as ucarp). Adverts replayed by a
host without the key are ignored (docs/behaviour.md).

Health tracking: --track-script CMD runs CMD (split like a shell, run without one, without the
daemon's capabilities) every --track-interval seconds (1); --track-fall failures in a row (2)
take the track down, --track-rise successes (2) bring it back. While down, the group is demoted
by --track-weight (1-240), or with "fault" (the default) it hands over and stays out: only if no
healthy node is left does it hold the address. More tracks, interfaces and files: [[track]] in
--config (README, "Health tracking").

VRRPv3 (--vrrp3, RFC 9568): the group speaks VRRPv3 instead of CARP: --priority decides
(higher wins, equal: the higher --srcip), adverts every --interval seconds (0.01-40.95),
preempt on unless --no-preempt. VRRPv3 HAS NO AUTHENTICATION: anybody on the segment can take
the addresses over; no --pass/--passfile then. Tested live with keepalived (vrrp_version 3);
FreeBSD's carpver 3 uses the same wire format (not tested against FreeBSD). --vrrp-checksum
rfc9568 for keepalived's v3_checksum_as_v2.

A running daemon: `pycarp status`, `pycarp maintenance on|off`, `pycarp demote +N|-N|=N`,
`pycarp state VHID@IF master|backup` talk to it over --control (each has --help).

example (two hosts sharing 198.51.100.100):
  pycarp -i eth0 -s 198.51.100.1 -v 1 -o /etc/pycarp.pass -a 198.51.100.100/24
  pycarp -i eth0 -s 198.51.100.2 -v 1 -o /etc/pycarp.pass -a 198.51.100.100/24 -k 100
"""


class _Parser(argparse.ArgumentParser):
    """Usage mistakes in one line (``pycarp: error: ...``, exit 2), like every config error."""

    def error(self, message: str) -> typing.NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="pycarp",
        description="Run CARP groups: share IP addresses between hosts, fail over in seconds. "
        "Accepts every ucarp 1.5.2 option with the same meaning.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    g = p.add_argument_group("ucarp options")
    g.add_argument("-i", "--interface", metavar="IF", help="interface to run on")
    g.add_argument("-s", "--srcip", metavar="IP", help="this host's own (real) address on IF")
    g.add_argument("-m", "--mcast", metavar="IP", help=f"multicast group (default {CARP_GROUP_V4})")
    g.add_argument("-v", "--vhid", metavar="ID", help=f"virtual host id, {_RANGES['vhid']}")
    g.add_argument("-p", "--pass", dest="passphrase", metavar="PASS", help="passphrase (see below)")
    g.add_argument("-o", "--passfile", metavar="FILE", help="read the passphrase from FILE")
    g.add_argument(
        "-P",
        "--preempt",
        action="store_true",
        default=None,
        help="take over from slower masters (CARP: off by default; VRRPv3: on)",
    )
    g.add_argument(
        "-n", "--neutral", action="store_true", help="do not run the down script at start-up"
    )
    g.add_argument(
        "-a",
        "--addr",
        dest="addresses",
        action="append",
        default=[],
        metavar="IP[/LEN]",
        help="virtual address (repeatable; default prefix /32 or /128)",
    )
    g.add_argument(
        "-b",
        "--advbase",
        default="1",
        metavar="SECS",
        help=f"advert interval, {_RANGES['advbase']} s; 0 = sub-second (OpenBSD): every "
        "advskew/256 s",
    )
    g.add_argument(
        "-k",
        "--advskew",
        default="0",
        metavar="SKEW",
        help=f"skew in 1/256 s, {_RANGES['advskew']}",
    )
    g.add_argument("-u", "--upscript", metavar="FILE", help="run when becoming master")
    g.add_argument("-d", "--downscript", metavar="FILE", help="run when becoming backup")
    g.add_argument(
        "-r", "--deadratio", default="3", metavar="N", help="adverts missed before takeover (3)"
    )
    g.add_argument("-D", "--debug", action="store_true", help="debug logging")
    g.add_argument(
        "-z",
        "--shutdown",
        action="store_true",
        help="accepted for ucarp compatibility; always on in pycarp: a master that stops "
        "runs its down script (and releases its addresses)",
    )
    g.add_argument("-B", "--daemonize", action="store_true", help="run in the background")
    g.add_argument("-S", "--ignoreifstate", action="store_true", help="ignore carrier loss on IF")
    g.add_argument(
        "-M", "--nomcast", action="store_true", help="broadcast adverts instead of multicast"
    )
    g.add_argument("-f", "--facility", metavar="NAME", help="log to syslog with this facility")
    g.add_argument("-x", "--xparam", metavar="VALUE", help="extra argument for the scripts")
    e = p.add_argument_group("pycarp extensions")
    e.add_argument(
        "--signature-mode",
        default="kernel",
        metavar="MODE",
        help="kernel (all addresses, FreeBSD/OpenBSD) or ucarp (first --addr only); "
        "identical for a single IPv4 address",
    )
    e.add_argument("--address-mode", default="auto", metavar="MODE", help="auto, native or scripts")
    e.add_argument(
        "--key-hex",
        metavar="HEX",
        help="raw key of 1-20 bytes in hex, every byte counts (groups keyed over netlink/ioctl);"
        " instead of --pass/--passfile",
    )
    e.add_argument(
        "--vmac",
        action="store_true",
        help="give the group the virtual MAC 00:00:5e:00:01:<vhid> on a macvlan (<IF>.c<vhid>), "
        "as FreeBSD CARP does, so clients' ARP/ND entries never change on a takeover; needs "
        "native address mode and sets arp_ignore=1, arp_announce=2 on IF (restored at exit). "
        "Hypervisors and clouds that drop frames from unknown MACs break it: see docs/behaviour.md",
    )
    e.add_argument(
        "--demote-on-wire",
        default="advskew",
        metavar="WHERE",
        help="where our demotion is sent: advskew (FreeBSD, ucarp; default) or byte "
        "(OpenBSD's demote count); the byte peers send is always honoured",
    )
    e.add_argument(
        "--notify", metavar="CMD", help="run `CMD <vhid>@<if> <STATE>` on every state change"
    )
    e.add_argument("--peer", metavar="IP", help="unicast adverts to this peer (no multicast)")
    e.add_argument(
        "--script-timeout",
        default=str(DEFAULT_SCRIPT_TIMEOUT),
        metavar="SECS",
        help=f"kill a hook still running after this long ({DEFAULT_SCRIPT_TIMEOUT:g})",
    )
    e.add_argument(
        "--config", metavar="FILE", help="TOML file with many groups (no group flags then)"
    )
    v = p.add_argument_group("VRRPv3 (RFC 9568; no authentication: see below)")
    v.add_argument(
        "--vrrp3",
        dest="protocol",
        action="store_const",
        const="vrrp3",
        default="carp",
        help="run the group as VRRPv3 (--vhid is the VRID); unauthenticated",
    )
    v.add_argument("--priority", metavar="N", help="1-254, higher wins; 255 = address owner (100)")
    v.add_argument("--interval", metavar="SECS", help="advert interval, 0.01-40.95 s (1)")
    v.add_argument(
        "--no-preempt",
        dest="preempt",
        action="store_false",
        help="never take over from a lower-priority master",
    )
    v.add_argument(
        "--preempt-delay", metavar="SECS", help="after start, wait this long before preempting (0)"
    )
    v.add_argument(
        "--vrrp-checksum",
        metavar="FORM",
        help="IPv4 checksum: pseudo-header (keepalived, FreeBSD; default) or rfc9568 "
        "(keepalived v3_checksum_as_v2); IPv6 always has the pseudo-header",
    )
    t = p.add_argument_group("health tracking (one check; more with [[track]] in --config)")
    t.add_argument(
        "--track-script", metavar="CMD", help="check command: exit 0 = healthy (no shell)"
    )
    t.add_argument("--track-interval", metavar="SECS", help="seconds between checks (1)")
    t.add_argument(
        "--track-timeout", metavar="SECS", help="kill a check after this long (the interval)"
    )
    t.add_argument("--track-fall", metavar="N", help="failures in a row before down (2)")
    t.add_argument("--track-rise", metavar="N", help="successes in a row before up again (2)")
    t.add_argument(
        "--track-weight",
        metavar="W",
        help="demotion while down, 1-240, or fault: hand over and stay out (fault)",
    )
    o = p.add_argument_group("operating the daemon")
    o.add_argument(
        "--control",
        metavar="PATH",
        help="control socket for `pycarp status|maintenance|demote|state` "
        "(default /run/pycarp/pycarp.sock; with --config /run/pycarp/<file stem>.sock; off)",
    )
    o.add_argument(
        "--control-group", metavar="GROUP", help="this group may use the control socket too"
    )
    o.add_argument(
        "--state-dir",
        metavar="DIR",
        help="keep maintenance mode here across restarts (default /var/lib/pycarp; off)",
    )
    o.add_argument(
        "--events", metavar="FILE", help="write every event as a JSON line to FILE (- for stdout)"
    )
    o.add_argument(
        "--metrics", metavar="HOST:PORT", help="serve Prometheus metrics on HOST:PORT (/metrics)"
    )
    o.add_argument(
        "--check-config",
        action="store_true",
        help="validate the configuration (flags or --config), print a summary and exit",
    )
    e.add_argument("--version", action="version", version="%(prog)s 0.1.0")
    return p


def _operate(args: argparse.Namespace) -> Operate:
    return Operate(
        control=args.control,
        control_group=args.control_group,
        state_dir=args.state_dir,
        events=args.events,
        metrics=args.metrics,
    )


_GROUP_FLAGS = [
    "interface",
    "srcip",
    "mcast",
    "vhid",
    "passphrase",
    "passfile",
    "key_hex",
    "preempt",
    "neutral",
    "addresses",
    "upscript",
    "downscript",
    "shutdown",
    "ignoreifstate",
    "vmac",
    "nomcast",
    "xparam",
    "notify",
    "peer",
    "advbase",
    "advskew",
    "deadratio",
    "signature_mode",
    "demote_on_wire",
    "address_mode",
    "script_timeout",
    "protocol",
    "priority",
    "interval",
    "preempt_delay",
    "vrrp_checksum",
]


def config_from_args(args: argparse.Namespace) -> DaemonConfig:
    """Build the daemon configuration from parsed flags (or from --config)."""
    facility = parse_facility("--facility", args.facility)
    track_flags = {key: getattr(args, f"track_{key}") for key in TRACK_FLAGS}
    if args.config is not None:
        used_track = [TRACK_FLAGS[k] for k, v in track_flags.items() if v is not None]
        if used_track:
            raise ConfigError(
                used_track[0], "given with --config", "[[track]] tables in the --config file"
            )
        defaults = build_parser().parse_args([])  # a flag left at its default was not "used"
        used = [f for f in _GROUP_FLAGS if getattr(args, f) != getattr(defaults, f)]
        if used:
            raise ConfigError(
                "--config", args.config, f"not together with group options ({', '.join(used)})"
            )
        loaded, written = load_config_and_options(pathlib.Path(args.config))
        return DaemonConfig(
            groups=loaded.groups,
            debug=args.debug or loaded.debug,
            facility=facility or loaded.facility,
            daemonize=args.daemonize,
            config_path=loaded.config_path,
            tracks=loaded.tracks,
            **resolve(_operate(args).over(written), loaded.instance, OPERATE_FLAGS),
        )
    raw = RawGroup(
        interface=args.interface,
        source=args.srcip,
        vhid=args.vhid,
        passphrase=args.passphrase,
        passfile=args.passfile,
        key_hex=args.key_hex,
        addresses=args.addresses,
        advbase=args.advbase,
        advskew=args.advskew,
        dead_ratio=args.deadratio,
        preempt=args.preempt,
        neutral=args.neutral,
        signature_mode=args.signature_mode,
        demote_on_wire=args.demote_on_wire,
        address_mode=args.address_mode,
        upscript=args.upscript,
        downscript=args.downscript,
        xparam=args.xparam,
        notify=args.notify,
        ignore_ifstate=args.ignoreifstate,
        vmac=args.vmac,
        destination=_destination(args),
        script_timeout=args.script_timeout,
        protocol=args.protocol,
        priority=args.priority,
        interval=args.interval,
        preempt_delay=args.preempt_delay,
        vrrp_checksum=args.vrrp_checksum,
    )
    # The destination was written as --peer, --mcast or --nomcast: errors name that one.
    names = FLAG_NAMES | {"destination": _destination_flag(args)}
    group = build_group(raw, lambda field: names.get(field, f"--{field}"))
    fallback = None if args.control is not None else RUN_DIR / f"{group.name}.sock"
    track = track_from_flags(track_flags)
    return DaemonConfig(
        groups=(group,),
        tracks=() if track is None else (track,),
        debug=args.debug,
        facility=facility,
        daemonize=args.daemonize,
        control_fallback=fallback,
        **resolve(_operate(args), "pycarp", OPERATE_FLAGS),
    )


def _destination(args: argparse.Namespace) -> str | None:
    chosen = [f for f in ("mcast", "peer", "nomcast") if getattr(args, f)]
    if len(chosen) > 1:
        raise ConfigError(f"--{chosen[1]}", "given", f"only one of --{' / --'.join(chosen)}")
    if args.peer:
        return str(args.peer)
    if args.nomcast:
        return "255.255.255.255"
    if args.mcast:
        group = parse_ip("--mcast", args.mcast)
        if not isinstance(group, ipaddress.IPv4Address) or not group.is_multicast:
            raise ConfigError("--mcast", args.mcast, "an IPv4 multicast address")
        return str(group)
    return None


def _destination_flag(args: argparse.Namespace) -> str:
    return next((f"--{f}" for f in ("mcast", "nomcast") if getattr(args, f)), "--peer")
