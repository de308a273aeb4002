"""Does the configuration fit this host? Checked at start (and on reload), before any socket.

:mod:`pycarp.config.build` validates values without looking at the host. What only the host
knows is checked here, through the platform's address manager: every interface exists, and
every group's source is one of its interface's addresses (an IPv6 link-local one included).

Health tracks are checked here too: a script track's program must be found and executable
(the daemon's ``PATH``), an interface track's interface must exist. A check that could never run
would otherwise show up only as a track that is always down, and take the addresses away.

Without this, a missing interface surfaced from deep inside the daemon as a bare
"No such device" that did not say which, and a source the host does not have sent adverts from
an address that is not its own, which no peer can answer. Both are configurations that cannot
work: a :class:`~pycarp.config.model.ConfigError` like any other, one line, exit 2, naming the
option or key the user wrote.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Callable, Collection

from pycarp.config.flags import FLAG_NAMES
from pycarp.config.model import ConfigError, DaemonConfig
from pycarp.config.tracks import TRACK_FLAGS, TrackKind
from pycarp.core.constants import IPAddress
from pycarp.platform.ports import AddressManager

_LISTED = 4  # addresses an error lists before "and N more"


def check_host(config: DaemonConfig, addresses: AddressManager) -> None:
    """Raise ConfigError for the first group whose interface or source this host lacks.

    Blocking (netlink): one address dump per interface, whatever the number of groups.
    """
    found: dict[str, set[IPAddress]] = {}
    for number, group in enumerate(config.groups, start=1):
        name = _namer(config, number)
        interface = group.interface
        if interface not in found:
            found[interface] = _addresses_of(name("interface"), interface, addresses)
        source = group.settings.source
        if source is not None and source not in found[interface]:
            same_family = [a for a in found[interface] if a.version == source.version]
            raise ConfigError(
                name("source"),
                str(source),
                f"an address of {interface}, whose IPv{source.version} addresses are "
                + _listing(same_family),
            )
    check_tracks_on_host(config, addresses)


def check_tracks_on_host(config: DaemonConfig, addresses: AddressManager) -> None:
    """A track's program runs, its interface exists (file tracks may wait for their file)."""
    for number, track in enumerate(config.tracks, start=1):

        def name(field: str, number: int = number) -> str:
            if config.config_path is None:
                return TRACK_FLAGS.get(field, f"--track-{field}")
            return f"{config.config_path}: track[{number}].{field}"

        if track.kind is TrackKind.SCRIPT:
            program = track.script[0]
            if shutil.which(program, path=os.environ.get("PATH", os.defpath)) is None:
                raise ConfigError(name("script"), program, "an existing executable program")
        elif track.kind is TrackKind.INTERFACE:
            assert track.interface is not None
            _addresses_of(name("interface"), track.interface, addresses)


def _addresses_of(field: str, interface: str, addresses: AddressManager) -> set[IPAddress]:
    try:
        return {prefix.ip for prefix in addresses.addresses(interface)}
    except OSError as error:
        if error.errno == errno.ENODEV:
            raise ConfigError(field, interface, "an existing network interface") from None
        reason = error.strerror or str(error)
        raise ConfigError(
            field, interface, f"an interface whose addresses can be read: {reason}"
        ) from None


def _listing(found: Collection[IPAddress]) -> str:
    if not found:
        return "none"
    ordered = sorted(found)
    listed = ", ".join(str(a) for a in ordered[:_LISTED])
    more = len(ordered) - _LISTED
    return listed if more <= 0 else f"{listed} and {more} more"


def _namer(config: DaemonConfig, number: int) -> Callable[[str], str]:
    """The user's spelling: ``--srcip`` on a command line, ``FILE: group[N].source`` in a file."""

    def name(field: str) -> str:
        if config.config_path is None:
            return FLAG_NAMES.get(field, f"--{field}")
        return f"{config.config_path}: group[{number}].{field}"

    return name
