"""``pycarp demote +N|-N|=N [VHID@IF]``: make this node a less (or more) likely master."""

from __future__ import annotations

import re

from pycarp.cli import controlling
from pycarp.control.protocol import MAX_DEMOTE

EPILOG = f"""\
A group's demotion is added to its advskew on the wire: the higher it is, the less this node
is preferred as master. The operator's counter is one source of demotion among others (carrier
loss, send errors, maintenance); `pycarp status` shows each.

  +N   add N to the counter, as FreeBSD's net.inet.carp.demotion sysctl and OpenBSD's
       `ifconfig -g carp carpdemote N` do
  -N   subtract N
  =N   set the counter to N
  N is 0-{MAX_DEMOTE}. Without VHID@IF the host-wide counter changes (every group); with it,
  only that group's own counter.

The total may go negative (the node is preferred more than its configuration says), but the
advskew on the wire is clamped to 0-240: never below 0, and 240 means "master only if nobody
else is". The counter is not kept across restarts (maintenance mode is).

exit status: 0 done, 1 refused (e.g. no such group) or no daemon, 2 usage error.

examples:
  pycarp demote +100            # every group: prefer the peers
  pycarp demote =0 1@eth0       # group 1@eth0: clear its own counter
"""

_CHANGE = re.compile(r"([+=-])([0-9]+)")


def main(argv: list[str]) -> int:
    p = controlling.parser("demote", "Change the operator's demotion counter.", EPILOG)
    p.add_argument("change", metavar="+N|-N|=N", help="add, subtract or set")
    p.add_argument("group", metavar="VHID@IF", nargs="?", help="one group (default: all)")
    args = p.parse_args(argv)
    match = _CHANGE.fullmatch(args.change)
    if match is None:
        return controlling.usage_error(
            "demote", f"{args.change!r}: give +N, -N or =N with N 0-{MAX_DEMOTE} (e.g. +100)"
        )
    payload = {
        "command": "demote",
        "mode": match.group(1),
        "amount": int(match.group(2)),
        "group": args.group,
    }
    return controlling.command("demote", args.control, payload)
