"""``pycarp status``: what each group is doing and why, once or redrawn (``--watch``)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

from pycarp.cli import controlling
from pycarp.control.client import ClientError
from pycarp.control.view import ViewError, render

EPILOG = """\
For each group: its state and since when (and why it entered it), its addresses, the advbase
and advskew configured and the advskew on the wire (after demotion), every non-zero source of
demotion, the current master and what it advertises, one sentence saying why this node is (not)
the master, adverts sent and received, and drops by reason. The first lines: the daemon, its
maintenance mode, its operator demotion, and each interface's carrier and drops.

--json prints the status document as the daemon sent it (schema: docs/control.md, stable);
with --watch, one document per line.

exit status: 0 shown (and --watch ended with Ctrl-C), 1 no daemon or a refusal, 2 usage error.

examples:
  pycarp status
  pycarp status --watch 0.5
  pycarp status --json | jq '.groups[] | {group, state}'
"""

MIN_INTERVAL = 0.1
MAX_INTERVAL = 3600.0
_CLEAR = "\x1b[H\x1b[2J"


def _interval(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not MIN_INTERVAL <= value <= MAX_INTERVAL:  # NaN fails too
        raise argparse.ArgumentTypeError(
            f"--watch {text!r}: give seconds from {MIN_INTERVAL:g} to {MAX_INTERVAL:g}"
        )
    return value


def main(argv: list[str]) -> int:
    p = controlling.parser("status", "Show the daemon's groups: state, master, why.", EPILOG)
    p.add_argument("--json", action="store_true", help="print the status document (JSON)")
    p.add_argument(
        "--watch",
        nargs="?",
        const=1.0,
        type=_interval,
        metavar="SECONDS",
        help="redraw every SECONDS (default 1) until Ctrl-C",
    )
    args = p.parse_args(argv)
    try:
        if args.watch is None:
            return _once(args.control, args.json)
        return _watch(args.control, args.json, args.watch)
    except KeyboardInterrupt:
        return 0
    except BrokenPipeError:  # `pycarp status --watch | head`: the reader is done, so are we
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _fetch(control: str | None) -> dict[str, Any]:
    """The status document; raises ClientError for a refusal too (it is one line)."""
    reply = controlling.ask(control, {"command": "status"})
    if not reply["ok"]:
        raise ClientError(reply["message"])
    document = reply.get("status")
    if not isinstance(document, dict):
        raise ClientError("malformed reply: no status document")
    return document


def _show(document: dict[str, Any], as_json: bool, compact: bool) -> str:
    if as_json:
        return json.dumps(document, indent=None if compact else 2)
    return render(document, time.time())


def _once(control: str | None, as_json: bool) -> int:
    try:
        print(_show(_fetch(control), as_json, compact=False))
    except controlling.UsageError as error:
        return controlling.usage_error("status", str(error))
    except (ClientError, ViewError) as error:
        return controlling.failure(str(error))
    return 0


def _watch(control: str | None, as_json: bool, interval: float) -> int:
    """Redraw until Ctrl-C. The first failure ends it (a wrong socket should not hang); later
    ones are shown in place and retried, so a daemon restart can be watched through."""
    first = True
    clear = sys.stdout.isatty() and not as_json
    while True:
        started = time.monotonic()
        try:
            text = _show(_fetch(control), as_json, compact=True)
        except controlling.UsageError as error:
            return controlling.usage_error("status", str(error))
        except (ClientError, ViewError) as error:
            if first:
                return controlling.failure(str(error))
            text = f"pycarp: error: {error} (retrying every {interval:g} s)"
            if as_json:  # standard output stays one JSON document per line
                print(text, file=sys.stderr, flush=True)
                time.sleep(interval)
                continue
        first = False
        if clear:
            text = _CLEAR + text
        elif not as_json:
            text += "\n"
        print(text, flush=True)
        time.sleep(max(interval - (time.monotonic() - started), 0.0))
