"""The least an asyncio daemon can do: wake once a second and send one 36-byte datagram.

``bench/idle.py --reference`` runs this beside pycarp with one group, on the same lab host, to
show how much of pycarp's idle CPU is the interpreter waking up at all (cold caches after a
second asleep) rather than CARP work. Bounded: ``--seconds`` wake-ups, then it exits.

    python floor.py --seconds 60
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import typing

PAYLOAD = bytes(36)  # the size of a CARP advertisement
DISCARD = ("127.0.0.1", 9)  # the host's own loopback: nothing leaves the namespace


async def wake_and_send(seconds: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        for _ in range(seconds):
            await asyncio.sleep(1.0)
            sock.sendto(PAYLOAD, DISCARD)


def main(argv: typing.Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=int, required=True, help="wake-ups before exiting")
    args = parser.parse_args(argv)
    asyncio.run(wake_and_send(min(args.seconds, 24 * 3600)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
