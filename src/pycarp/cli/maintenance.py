"""``pycarp maintenance on|off``: take a node out of service, and back, without stopping it."""

from __future__ import annotations

from pycarp.cli import controlling

EPILOG = """\
maintenance on: every group advertises the largest demotion (advskew 240 on the wire), so a
peer takes over as master and this node does not take the addresses back while maintenance is
on. The daemon keeps running: you still see its status and it still answers as a backup.
The mode is saved in the state directory (--state-dir, default /var/lib/pycarp), so a restart
or a reboot stays in maintenance until `pycarp maintenance off`. If that file cannot be read,
the daemon starts in maintenance (the safe side) and says so in its log.

exit status: 0 done, 1 refused or no daemon, 2 usage error.

example:
  pycarp maintenance on      # before working on this node
  pycarp maintenance off     # back in service
"""


def main(argv: list[str]) -> int:
    p = controlling.parser(
        "maintenance", "Put this node in maintenance (on) or take it out (off).", EPILOG
    )
    p.add_argument("mode", choices=["on", "off"], help="on or off")
    args = p.parse_args(argv)
    return controlling.command(
        "maintenance",
        args.control,
        {
            "command": "maintenance",
            "on": args.mode == "on",
        },
    )
