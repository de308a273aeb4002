"""pycarp and keepalived each following a web service with the same check, for bench/track_failover.

Both run the *same* check program (a ``/bin/sh`` script that execs the lab's ``curl`` GET,
:func:`pycarp.lab.services.check_argv`) at the same interval, timeout, fall and
rise, so what differs is the daemon, not the check:

* pycarp: a ``[[track]]`` in its TOML file; ``fault`` (no weight: hand over and stay out) or
  ``weight W`` (advskew 0 + W on the wire; the backup at 100 takes over with its preempt).
* keepalived: a ``vrrp_script`` with ``track_script``; no weight (0) is its FAULT state, a
  weight ``-W`` lowers the priority (250 - W) below the backup's 156, whose preemption (on by
  default in keepalived) takes over. Priorities 250 / 156 give the same timers as advskew 0 /
  100 (benchlib/peers.py).
"""

from __future__ import annotations

import pathlib
import shlex

from benchlib.peers import (
    BACKUP_PRIORITY,
    BACKUP_SKEW,
    MASTER_PRIORITY,
    MASTER_SKEW,
    PREFIX_LEN,
    run_keepalived,
)
from pycarp.lab import HOST_INTERFACE, Lab
from pycarp.lab.daemons import Daemon, start_pycarp
from pycarp.lab.services import check_argv, write_tracked_config


def check_script(lab: Lab, node: str, workdir: pathlib.Path, timeout: float) -> pathlib.Path:
    """The check both implementations run on ``node``: GET its own page within ``timeout``."""
    script = workdir / f"check-web-{node}.sh"
    argv = check_argv(str(lab.ipv4(node).ip), timeout)
    script.write_text(f"#!/bin/sh\nexec {shlex.join(argv)}\n")
    script.chmod(0o755)
    return script


def start_pycarp_tracked(
    lab: Lab,
    node: str,
    *,
    master: bool,
    workdir: pathlib.Path,
    address: str,
    interval: float,
    timeout: float,
    fall: int,
    rise: int,
    weight: int | None,
) -> Daemon:
    """pycarp with one group (advskew 0 or 100, preempt on) and the web track."""
    track: dict[str, object] = {
        "name": "web",
        "script": [str(check_script(lab, node, workdir, timeout))],
        "interval": interval,
        "timeout": timeout,
        "fall": fall,
        "rise": rise,
        "weight": "fault" if weight is None else weight,
    }
    group: dict[str, object] = {
        "interface": HOST_INTERFACE,
        "source": str(lab.ipv4(node).ip),
        "vhid": 1,
        "pass_env": "PYCARP_PASS",
        "addresses": [f"{address}/{PREFIX_LEN}"],
        "advbase": 1,
        "advskew": MASTER_SKEW if master else BACKUP_SKEW,
        "preempt": True,
    }
    path = write_tracked_config(workdir / f"pycarp-{node}.toml", [group], [track])
    return start_pycarp(lab, node, ["--config", str(path)], workdir=workdir)


KEEPALIVED_TRACKED_CONF = """\
global_defs {{
    router_id {node}
    vrrp_version 3
    script_user root
}}

vrrp_script chk_web {{
    script "{script}"
    interval {interval}
    timeout {timeout}
    fall {fall}
    rise {rise}
    weight {weight}
}}

vrrp_instance VI_1 {{
    state BACKUP
    interface {interface}
    virtual_router_id 1
    priority {priority}
    advert_int 1
    virtual_ipaddress {{
        {address}/{prefix} dev {interface}
    }}
    track_script {{
        chk_web
    }}
}}
"""


def start_keepalived_tracked(
    lab: Lab,
    node: str,
    *,
    master: bool,
    workdir: pathlib.Path,
    address: str,
    interval: float,
    timeout: float,
    fall: int,
    rise: int,
    weight: int | None,
) -> Daemon:
    """keepalived (VRRPv3, 1 s adverts) with the same check as a ``vrrp_script``."""
    base = workdir / f"keepalived-{node}"
    conf = base.with_suffix(".conf")
    conf.write_text(
        KEEPALIVED_TRACKED_CONF.format(
            node=node,
            script=check_script(lab, node, workdir, timeout),
            interval=f"{interval:g}",
            timeout=f"{timeout:g}",
            fall=fall,
            rise=rise,
            weight=0 if weight is None else -weight,
            interface=HOST_INTERFACE,
            priority=MASTER_PRIORITY if master else BACKUP_PRIORITY,
            address=address,
            prefix=PREFIX_LEN,
        )
    )
    return run_keepalived(lab, node, base)
