"""The control socket's wire format: one JSON object per line, each way (docs/control.md).

Validation is strict and lives here only, so the server, the client and the CLI (which checks
its arguments before it connects) all refuse the same requests with the same one-line message.
A request that is not exactly right is refused rather than guessed at: a typo in a script that
steers failover must fail loudly, never do something nearby.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from pycarp.control.api import PROTOCOL_VERSION, ControlError, DemoteMode
from pycarp.core.constants import MAX_VHID

MAX_REQUEST = 64 * 1024  # bytes per request line, newline included
MAX_REPLY = 64 * 1024 * 1024  # a status of 10,000 groups stays far below this
READ_TIMEOUT = 10.0  # seconds the server waits for (the rest of) a request line
MAX_DEMOTE = 1_000_000
IFNAMSIZ = 16  # Linux interface names: at most 15 bytes

COMMANDS: dict[str, tuple[str, ...]] = {
    "status": (),
    "maintenance": ("on",),
    "demote": ("mode", "amount", "group"),
    "state": ("group", "state"),
}
STATES = ("master", "backup")

# Stable error codes (scripts match on them): the api module's four, plus the transport's.
BAD_REQUEST = "bad_request"
NOT_PERMITTED = "not_permitted"
INTERNAL = "internal"
BUSY = "busy"


@dataclasses.dataclass(frozen=True, slots=True)
class Request:
    """A validated request: ``arguments`` hold only the command's own, already typed."""

    command: str
    arguments: dict[str, Any]


def bad(message: str) -> ControlError:
    return ControlError(BAD_REQUEST, message)


def parse_group(text: object) -> str:
    """``VHID@IF`` (FreeBSD's name for a group): vhid 1-255, an interface name as Linux allows."""
    allowed = "VHID@IF, VHID 1-255 and IF an interface name (e.g. 1@eth0)"
    if not isinstance(text, str):
        raise bad(f"group must be a string {allowed}, not {_json_type(text)}")
    vhid, sep, interface = text.partition("@")
    if (
        not sep
        or not vhid.isdigit()
        or not vhid.isascii()
        or not 1 <= int(vhid) <= MAX_VHID
        or vhid != str(int(vhid))
        or not interface
        or len(interface.encode()) >= IFNAMSIZ
        or interface in (".", "..")
        or any(c in interface for c in "/@:")
        or not interface.isprintable()
        or any(c.isspace() for c in interface)
    ):
        raise bad(f"group {text!r} is not {allowed}")
    return text


def parse_request(line: bytes | str) -> Request:
    """One request line, decoded and checked; raises ``ControlError('bad_request', ...)``."""
    return check_request(decode(line))


def decode(line: bytes | str) -> object:
    """The JSON value of one line; raises ``ControlError('bad_request', ...)``."""
    try:
        document: object = json.loads(line)
    except ValueError as error:  # UnicodeDecodeError included
        raise bad(f"request is not JSON: {_first_line(str(error))}") from None
    return document


def check_request(document: object) -> Request:
    """A decoded request document, checked field by field (see :func:`parse_request`)."""
    if not isinstance(document, dict):
        raise bad(f"request must be a JSON object, not {_json_type(document)}")
    version = document.get("v")
    if type(version) is not int or version != PROTOCOL_VERSION:
        raise bad(f'protocol version {version!r} not spoken here: send "v": {PROTOCOL_VERSION}')
    command = document.get("command")
    if command not in COMMANDS:
        raise bad(f"unknown command {command!r}: one of {', '.join(COMMANDS)}")
    expected = COMMANDS[command]
    extra = sorted(set(document) - {"v", "command", *expected})
    if extra:
        raise bad(f"{command}: unexpected field {extra[0]!r} (takes: {_names(expected)})")
    missing = [name for name in expected if name not in document]
    if missing:
        raise bad(f"{command}: missing field {missing[0]!r} (takes: {_names(expected)})")
    arguments: dict[str, Any] = {name: document[name] for name in expected}
    _CHECKS[command](arguments)
    return Request(command, arguments)


def _check_maintenance(arguments: dict[str, Any]) -> None:
    if not isinstance(arguments["on"], bool):
        raise bad(f"maintenance: 'on' must be true or false, not {_json_type(arguments['on'])}")


def _check_demote(arguments: dict[str, Any]) -> None:
    modes = [mode.value for mode in DemoteMode]
    if arguments["mode"] not in modes:
        raise bad(f"demote: 'mode' must be one of {' '.join(modes)}, not {arguments['mode']!r}")
    amount = arguments["amount"]
    if not isinstance(amount, int) or isinstance(amount, bool) or not 0 <= amount <= MAX_DEMOTE:
        raise bad(f"demote: 'amount' must be an integer 0-{MAX_DEMOTE}, not {amount!r}")
    if arguments["group"] is not None:
        parse_group(arguments["group"])


def _check_state(arguments: dict[str, Any]) -> None:
    parse_group(arguments["group"])
    if arguments["state"] not in STATES:
        raise bad(f"state: 'state' must be master or backup, not {arguments['state']!r}")


def _check_status(_arguments: dict[str, Any]) -> None:
    """No arguments, nothing to check (the unexpected-field check already ran)."""


_CHECKS = {
    "status": _check_status,
    "maintenance": _check_maintenance,
    "demote": _check_demote,
    "state": _check_state,
}


def command_of(document: object) -> str:
    """The command a (possibly invalid) request names, for the event of a refused request."""
    if isinstance(document, dict):
        command = document.get("command")
        if isinstance(command, str) and command in COMMANDS:
            return command
    return "invalid"


def encode(document: dict[str, Any]) -> bytes:
    """One line on the wire: compact JSON (no raw newline can occur in it) and ``\\n``."""
    return json.dumps(document, separators=(",", ":"), allow_nan=False).encode() + b"\n"


def ok_reply(message: str, **extra: Any) -> dict[str, Any]:
    return {"v": PROTOCOL_VERSION, "ok": True, "message": message, **extra}


def error_reply(code: str, message: str) -> dict[str, Any]:
    return {"v": PROTOCOL_VERSION, "ok": False, "error": code, "message": _first_line(message)}


def _first_line(text: str) -> str:
    """Messages are one line: the operator's terminal and the log both rely on it."""
    return text.strip().splitlines()[0] if text.strip() else "(no message)"


def _names(fields: tuple[str, ...]) -> str:
    return ", ".join(fields) if fields else "no arguments"


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"
