"""``pycarp state VHID@IF master|backup``: move one group now (FreeBSD ``ifconfig ... state``)."""

from __future__ import annotations

from pycarp.cli import controlling

EPILOG = """\
master: the group becomes MASTER at once (it takes the addresses and advertises), as FreeBSD's
`ifconfig IF vhid N state master`. backup: a master steps down; it sends one last advert that
lets a peer take over. Nothing else changes: the election runs on from there, so a better
master heard later wins again (unless preemption and demotion say otherwise). To keep a node
from being master, use `pycarp maintenance on` or `pycarp demote` instead.

exit status: 0 done, 1 refused (e.g. no such group) or no daemon, 2 usage error.

example:
  pycarp state 1@eth0 backup
"""


def main(argv: list[str]) -> int:
    p = controlling.parser("state", "Force one group to MASTER or BACKUP now.", EPILOG)
    p.add_argument("group", metavar="VHID@IF", help="the group, e.g. 1@eth0")
    p.add_argument("state", choices=["master", "backup"], help="master or backup")
    args = p.parse_args(argv)
    payload = {"command": "state", "group": args.group, "state": args.state}
    return controlling.command("state", args.control, payload)
