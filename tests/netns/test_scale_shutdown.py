"""Shutdown releases every address at any scale: 10,000 groups, SIGINT, nothing left behind.

The issue: "10,000 groups, SIGINT: exit 0 after 14 s with 8,127 of 10,000 addresses left
behind" (the release was cut short after a fixed drain time). Here one pycarp process on one
lab host, with no peer, becomes MASTER of 10,000 groups: 40 interfaces ``pd0``..``pd39``
(dummy, or ``ifb`` where the kernel has no dummy driver: both NOARP, always carrier, whatever
is sent is dropped), each with an IPv4 source ``203.0.113.(K+1)/24`` and 250 groups (vhids
1..250) of one IPv6 virtual address each, ``2001:db8:(K+1)::(vhid)/64``. Once the kernel shows
all 10,000 addresses it gets SIGINT by PID, and must exit 0 within STOP_BOUND with none of them
left (counted with ``ip -6 -o addr show``) and no error in its log.

Every group has advbase 3 (ADVBASE). The shutdown does not depend on it (every timer stops at
the bow-out), but start-up does: with advbase 1 a master steps down as "paused" when its timer
fires more than 2 s late, and while one interface's 250 groups are being started the event
loop serves no timer; on a loaded machine that took 2.75 s once, 9,250 masters stepped down
within 2 s, and the step-downs and re-claims kept the loop so late that the groups flapped
36,956 times without settling in 240 s. Advbase 3 tolerates 6 s (no step-down seen); the
flapping is the daemon's to fix, not this test's subject.

Measured on the shared 2-core machine (load average 1-3 from other work), SIGINT -> exit with
10,000 groups: this test 13.8, 15.5, 15.5, 16.7, 17.6, 21.9 s; ``bench/shutdown.py`` 14.2 to
26.2 s over 10 runs (advbase 1 and 3 alike). Of that, ~0.7 s is the bow-out of every group,
most of the rest the 10,000 netlink deletions (the kernel alone needs ~6 s for them through one
``ip -batch``; its cost per deletion grows with the number of addresses), and 1.2 to 2.3 s pass
between the last deletion logged and the exit. STOP_BOUND is 60 s, 2.3 times the worst.
Start-up is not asserted on: loading the config took 13 to 19 s, starting and claiming every
group 34 to 42 s more (106 s once, under load).
"""

from __future__ import annotations

import ipaddress
import pathlib
import re
import signal
import subprocess
import time

import pytest

from pycarp.lab import Lab, LabError
from pycarp.lab.daemons import Daemon, start_pycarp, wait_for, write_config

pytestmark = [pytest.mark.netns, pytest.mark.slow]

NODE = "h1"
INTERFACES = 40
PER_INTERFACE = 250
GROUPS = INTERFACES * PER_INTERFACE
ADVBASE = 3  # see the docstring: with advbase 1 start-up can flap on a loaded machine
CLAIM_TIMEOUT = 240.0  # start-up and claiming, not asserted on: only bounded
STOP_BOUND = 60.0  # seconds from SIGINT to exit; measured worst 26.2 s (see the docstring)
EXIT_TIMEOUT = 300.0  # how long to wait before declaring the daemon hung
_TROUBLE = re.compile(r"Traceback|ERROR|CRITICAL")


def interface(index: int) -> str:
    return f"pd{index}"


def source(index: int) -> str:
    return f"203.0.113.{index + 1}"


def virtual(index: int, vhid: int) -> ipaddress.IPv6Address:
    return ipaddress.IPv6Address(f"2001:db8:{index + 1:x}::{vhid:x}")


VIRTUALS = frozenset(
    virtual(index, vhid) for index in range(INTERFACES) for vhid in range(1, PER_INTERFACE + 1)
)


def link_kind(lab: Lab) -> str:
    """``dummy`` if this kernel can make one, else ``ifb`` (the same for this test)."""
    if lab.exec(NODE, ["ip", "link", "add", "pdprobe", "type", "dummy"]).returncode != 0:
        return "ifb"
    lab.exec(NODE, ["ip", "link", "del", "pdprobe"], check=True)
    return "dummy"


def build_interfaces(lab: Lab) -> None:
    kind = link_kind(lab)
    commands: list[str] = []
    for index in range(INTERFACES):
        commands += [
            f"link add {interface(index)} type {kind}",
            f"link set {interface(index)} multicast on up",
            f"addr add {source(index)}/24 dev {interface(index)}",
        ]
    lab.exec(NODE, ["ip", "-batch", "-"], stdin="\n".join(commands) + "\n", check=True)


def write_groups(path: pathlib.Path) -> pathlib.Path:
    return write_config(
        path,
        [
            {
                "interface": interface(index),
                "source": source(index),
                "vhid": vhid,
                "pass_env": "PYCARP_PASS",
                "addresses": [f"{virtual(index, vhid)}/64"],
                "advbase": ADVBASE,
            }
            for index in range(INTERFACES)
            for vhid in range(1, PER_INTERFACE + 1)
        ],
    )


def held(lab: Lab) -> int:
    """How many of the groups' virtual addresses the kernel shows on the host."""
    done = lab.exec(NODE, ["ip", "-6", "-o", "addr", "show"], timeout=60.0, check=True)
    found = 0
    for line in done.stdout.splitlines():
        fields = line.split()
        if len(fields) > 3 and fields[2] == "inet6":
            found += ipaddress.IPv6Interface(fields[3]).ip in VIRTUALS
    return found


def wait_claimed(lab: Lab, daemon: Daemon) -> float:
    def claimed() -> bool:
        assert daemon.alive(), f"pycarp exited ({daemon.process.returncode}):\n{tail(daemon)}"
        return held(lab) == GROUPS

    try:
        return wait_for(claimed, CLAIM_TIMEOUT, 1.0)
    except LabError as error:  # the timeout
        raise AssertionError(
            f"{held(lab)} of {GROUPS} addresses after {CLAIM_TIMEOUT:g} s:\n{tail(daemon)}"
        ) from error


def tail(daemon: Daemon) -> str:
    return daemon.log()[-2000:]


def test_sigint_releases_every_address_of_10000_groups(root: None, tmp_path: pathlib.Path) -> None:
    config = write_groups(tmp_path / "groups.toml")
    with Lab.create(hosts=1) as lab:
        build_interfaces(lab)
        daemon = start_pycarp(lab, NODE, ["--config", str(config)], workdir=tmp_path)
        claimed_after = wait_claimed(lab, daemon)
        time.sleep(2.0)  # a couple of advert rounds as a settled master of everything
        signalled = time.monotonic()
        daemon.signal(signal.SIGINT)
        try:
            status = daemon.process.wait(timeout=EXIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"pycarp still running {EXIT_TIMEOUT:g} s after SIGINT:\n{tail(daemon)}")
        stopped_after = time.monotonic() - signalled
        left = held(lab)
    print(
        f"{GROUPS} groups: all claimed {claimed_after:.1f} s after launch; "
        f"SIGINT -> exit {stopped_after:.2f} s, status {status}, {left} address(es) left"
    )
    lines = daemon.log().splitlines()
    trouble = [number for number, line in enumerate(lines) if _TROUBLE.search(line)]
    assert status == 0, tail(daemon)
    assert left == 0, f"{left} of {GROUPS} addresses left behind:\n{tail(daemon)}"
    assert not trouble, "\n".join(lines[trouble[0] : trouble[0] + 60])  # with its traceback
    assert stopped_after < STOP_BOUND, f"exit took {stopped_after:.1f} s:\n{tail(daemon)}"
