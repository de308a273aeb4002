"""``pycarp --check-config``: would this configuration start, and what would it run?

For an operator about to ``systemctl reload`` or restart: the same validation the daemon does at
start (values, then the host: interfaces exist, sources are the host's own), a summary of what
it found, and no side effect. Nothing here needs root: no CARP socket is opened, no address is
touched, no control socket or metrics port is bound. The host check reads the interfaces'
addresses over netlink, which any user may; where even that is impossible (no netlink in a
build sandbox) the check says it was skipped instead of failing, since the file itself is valid.

A mistake is one ``pycarp: error:`` line on stderr and exit 2, nothing on stdout, exactly as the
daemon would refuse to start. Missing capabilities are only reported: the check is meant to run
as any user, the daemon is not.
"""

from __future__ import annotations

import sys

from pycarp.config.model import ConfigError, DaemonConfig, GroupConfig, passphrases_cut
from pycarp.core.auth import PASSPHRASE_BYTES_USED
from pycarp.core.settings import DemoteOnWire
from pycarp.core.timing import SUB_SECOND_ADVBASE, advertisement_interval, describe_interval
from pycarp.observe.logsink import passphrase_cut_line


def check_config(config: DaemonConfig) -> int:
    """Print the summary of a valid ``config`` (exit status 0), or its one-line error (2)."""
    from pycarp.cli.run import runs_programs
    from pycarp.runtime.hooks import privilege_problem
    from pycarp.runtime.privileges import missing_capabilities

    if runs_programs(config):
        problem = privilege_problem()
        if problem is not None:
            print(f"pycarp: error: {problem}", file=sys.stderr)
            return 2
    try:
        host = _check_host(config)
    except ConfigError as error:
        print(f"pycarp: error: {error}", file=sys.stderr)
        return 2
    for line in describe(config):
        print(line)
    print(f"host: {host}")
    missing = missing_capabilities()
    if missing:
        print(
            f"privileges: this process lacks {' and '.join(missing)}; the daemon needs "
            "CAP_NET_RAW and CAP_NET_ADMIN (not needed for this check)"
        )
    else:
        print("privileges: CAP_NET_RAW and CAP_NET_ADMIN held")
    return 0


def describe(config: DaemonConfig) -> list[str]:
    """One line per group, then the daemon-wide options."""
    count = len(config.groups)
    origin = f" from {config.config_path}" if config.config_path is not None else ""
    lines = [f"configuration valid: {count} group{'s' if count != 1 else ''}{origin}"]
    lines += [f"  {_group_line(group)}" for group in config.groups]
    names, longest = passphrases_cut(config.groups)
    if names:
        lines.append(f"warning: {passphrase_cut_line(names, PASSPHRASE_BYTES_USED, longest)}")
    for track in config.tracks:
        groups = ", ".join(f"{v}@{i}" for i, v in track.groups) if track.groups else "every group"
        lines.append(
            f"  track {track.name}: {track.kind.value} {track.target}; every {track.interval:g}s"
            f", timeout {track.timeout:g}s, fall {track.fall}, rise {track.rise}; "
            f"{track.mode} on {groups}"
        )
    control = "off"
    if config.control is not None:
        control = str(config.control)
        if config.control_group is not None:
            control += f" (also group {config.control_group})"
    lines.append(f"control socket: {control}")
    lines.append(f"state dir: {config.state_dir if config.state_dir is not None else 'off'}")
    events = {None: "off", "-": "standard output"}.get(config.events, config.events)
    lines.append(f"events: {events}")
    metrics = "off"
    if config.metrics is not None:
        host, port = config.metrics
        metrics = f"http://{f'[{host}]' if ':' in host else host}:{port}/metrics"
    lines.append(f"metrics: {metrics}")
    return lines


def _group_line(group: GroupConfig) -> str:
    settings = group.settings
    addresses = ", ".join(str(prefix) for prefix in group.prefixes)
    if group.native_addresses:
        mode = "native addresses"
    else:
        scripts = [
            f"{kind} {path}"
            for kind, path in (("up", group.upscript), ("down", group.downscript))
            if path
        ]
        mode = f"scripts ({', '.join(scripts) or 'none'})"
    if settings.vrrp:
        preempt = "preempt" if settings.preempt else "no preempt"
        timing = (
            f"VRRPv3 (no authentication), priority {settings.priority}, interval "
            f"{settings.interval:.2f} s, {preempt}, "
            f"{settings.vrrp_checksum.value} checksum"
        )
    else:
        interval = describe_interval(advertisement_interval(settings.advbase, settings.advskew))
        timing = f"advbase {settings.advbase}, advskew {settings.advskew} (every {interval})"
        if settings.advbase == SUB_SECOND_ADVBASE:
            timing += ", sub-second as OpenBSD's advbase 0 (FreeBSD peers cannot go below 1)"
        if settings.demote_on_wire is DemoteOnWire.BYTE:
            timing += "; demotion in the demote byte (OpenBSD; FreeBSD and ucarp peers ignore it)"
    return f"{group.name}: {addresses}; {timing}; {mode}"


def _check_host(config: DaemonConfig) -> str:
    """The host pre-flight, if this process can read the host's addresses: what it concluded.

    ConfigError when the host cannot run the configuration (a missing interface, a source
    that is not the host's), as at the daemon's start.
    """
    from pycarp.platform.linux import linux_address_manager
    from pycarp.runtime.preflight import check_host

    try:
        addresses = linux_address_manager()
    except OSError as error:
        return f"not checked (cannot read the host's addresses: {error.strerror or error})"
    try:
        check_host(config, addresses)
    finally:
        addresses.close()
    tracks = ", every track's program and interface too" if config.tracks else ""
    return f"every interface exists and every source is one of its addresses{tracks}"
