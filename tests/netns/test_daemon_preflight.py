"""On the real kernel: a configuration the host cannot run is one line and exit 2, at start.

A missing interface once surfaced as a bare "No such device" from inside the daemon (exit 1,
not saying which interface); a source the host does not have was not noticed at all. And a
SIGHUP adding a group on a missing interface must be refused, not take the daemon down.
"""

from __future__ import annotations

import pathlib
import re
import signal

import pytest

from pycarp.lab import Lab
from pycarp.lab.daemons import Daemon, pycarp_args, start_pycarp, write_config
from pycarp.platform.netlink import NetlinkAddressManager
from pycarp.platform.rawsock import open_advert_socket

from .support import wait_started

EXIT_TIMEOUT = 15.0


def exits_with_one_line(daemon: Daemon) -> tuple[int, str]:
    status = daemon.process.wait(timeout=EXIT_TIMEOUT)
    lines = daemon.log().splitlines()
    assert len(lines) == 1, daemon.log()
    return status, lines[0]


def with_flag(args: list[str], flag: str, value: str) -> list[str]:
    changed = list(args)
    changed[changed.index(flag) + 1] = value
    return changed


def test_a_source_not_on_the_interface(root: None, tmp_path: pathlib.Path) -> None:
    with Lab.create(hosts=1) as lab:
        args = with_flag(pycarp_args(lab, "h1"), "-s", "198.51.100.99")
        daemon = start_pycarp(lab, "h1", args, workdir=tmp_path)
        own = lab.ipv4("h1").ip
        assert exits_with_one_line(daemon) == (
            2,
            "pycarp: error: --srcip: 198.51.100.99 is not allowed "
            f"(an address of {lab.interface}, whose IPv4 addresses are {own})",
        )
        assert lab.virtual_addresses("h1") == []


def test_a_missing_interface(root: None, tmp_path: pathlib.Path) -> None:
    with Lab.create(hosts=1) as lab:
        args = with_flag(pycarp_args(lab, "h1"), "-i", "nosuch0")
        daemon = start_pycarp(lab, "h1", args, workdir=tmp_path)
        assert exits_with_one_line(daemon) == (
            2,
            "pycarp: error: --interface: nosuch0 is not allowed (an existing network interface)",
        )


def group(lab: Lab, vhid: int, interface: str) -> dict[str, object]:
    return {
        "interface": interface,
        "source": str(lab.ipv4("h1").ip),
        "vhid": vhid,
        "addresses": [f"198.51.100.{100 + vhid}/24"],
    }


def test_a_file_names_the_group_whose_interface_is_missing(
    root: None, tmp_path: pathlib.Path
) -> None:
    with Lab.create(hosts=1) as lab:
        groups = [group(lab, 1, lab.interface), group(lab, 2, "nosuch0")]
        config = write_config(tmp_path / "c.toml", groups)
        daemon = start_pycarp(lab, "h1", ["--config", str(config)], workdir=tmp_path)
        assert exits_with_one_line(daemon) == (
            2,
            f"pycarp: error: {config}: group[2].interface: nosuch0 is not allowed "
            "(an existing network interface)",
        )


def test_a_reload_onto_a_missing_interface_is_refused_and_the_daemon_runs_on(
    root: None, tmp_path: pathlib.Path
) -> None:
    with Lab.create(hosts=1) as lab:
        config = write_config(tmp_path / "c.toml", [group(lab, 1, lab.interface)])
        daemon = wait_started(start_pycarp(lab, "h1", ["--config", str(config)], workdir=tmp_path))
        write_config(config, [group(lab, 1, lab.interface), group(lab, 2, "nosuch0")])
        daemon.signal(signal.SIGHUP)
        refusal = daemon.wait_for_message("SIGHUP: configuration not reloaded: ", timeout=10)
        assert re.search(
            r"group\[2\]\.interface: nosuch0 is not allowed \(an existing network interface\)",
            refusal,
        ), refusal
        assert daemon.alive()
        assert daemon.stop() == 0


def test_an_ipv6_link_local_source_is_the_hosts_own(root: None, tmp_path: pathlib.Path) -> None:
    with Lab.create(hosts=1) as lab:
        (link_local,) = [a.ip for a in lab.addresses("h1") if a.ip.is_link_local]
        args = ["-i", lab.interface, "-s", str(link_local), "-v", "1", "-a", "2001:db8::100/64"]
        daemon = wait_started(start_pycarp(lab, "h1", args, workdir=tmp_path))
        assert daemon.stop() == 0


def test_the_platform_names_a_missing_interface_too(root: None) -> None:
    """Past the start-up check (an interface removed since, a reload race), the daemon's own
    calls say which interface: once "no interface with this name" and "netlink: ENODEV"."""
    with Lab.create(hosts=1) as lab, lab.inside("h1"):
        with pytest.raises(OSError, match=r"^\[Errno 19\] no interface nosuch0$"):
            open_advert_socket("nosuch0", lab.ipv4("h1").ip)
        manager = NetlinkAddressManager()
        try:
            for query in (manager.carrier, manager.addresses):
                with pytest.raises(OSError, match=r"^\[Errno 19\] no interface nosuch0$"):
                    query("nosuch0")
        finally:
            manager.close()
