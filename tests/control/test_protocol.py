"""Request validation: every malformed request is refused with a message naming the problem."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pycarp.control import protocol
from pycarp.control.api import ControlError


def refusal(document: Any) -> str:
    with pytest.raises(ControlError) as error:
        protocol.parse_request(json.dumps(document))
    assert error.value.code == "bad_request"
    return error.value.message


@pytest.mark.parametrize(
    ("document", "arguments"),
    [
        ({"v": 1, "command": "status"}, {}),
        ({"v": 1, "command": "maintenance", "on": False}, {"on": False}),
        (
            {"v": 1, "command": "demote", "mode": "-", "amount": 1_000_000, "group": "255@br-x.1"},
            {"mode": "-", "amount": 1_000_000, "group": "255@br-x.1"},
        ),
        (
            {"v": 1, "command": "state", "group": "1@eth0", "state": "master"},
            {"group": "1@eth0", "state": "master"},
        ),
    ],
)
def test_valid_requests(document: dict[str, Any], arguments: dict[str, Any]) -> None:
    request = protocol.parse_request(json.dumps(document).encode())
    assert request == protocol.Request(document["command"], arguments)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "request must be a JSON object, not an array"),
        ({"command": "status"}, 'protocol version None not spoken here: send "v": 1'),
        ({"v": 2, "command": "status"}, 'protocol version 2 not spoken here: send "v": 1'),
        ({"v": True, "command": "status"}, 'protocol version True not spoken here: send "v": 1'),
        ({"v": 1.0, "command": "status"}, 'protocol version 1.0 not spoken here: send "v": 1'),
        ({"v": 1}, "unknown command None: one of status, maintenance, demote, state"),
        (
            {"v": 1, "command": "reboot"},
            "unknown command 'reboot': one of status, maintenance, demote, state",
        ),
        (
            {"v": 1, "command": "status", "x": 1},
            "status: unexpected field 'x' (takes: no arguments)",
        ),
        ({"v": 1, "command": "maintenance"}, "maintenance: missing field 'on' (takes: on)"),
        (
            {"v": 1, "command": "maintenance", "on": 1},
            "maintenance: 'on' must be true or false, not a number",
        ),
        (
            {"v": 1, "command": "demote", "mode": "+", "amount": 1},
            "demote: missing field 'group' (takes: mode, amount, group)",
        ),
        (
            {"v": 1, "command": "demote", "mode": "*", "amount": 1, "group": None},
            "demote: 'mode' must be one of + - =, not '*'",
        ),
        (
            {"v": 1, "command": "demote", "mode": "+", "amount": -1, "group": None},
            "demote: 'amount' must be an integer 0-1000000, not -1",
        ),
        (
            {"v": 1, "command": "demote", "mode": "+", "amount": 1_000_001, "group": None},
            "demote: 'amount' must be an integer 0-1000000, not 1000001",
        ),
        (
            {"v": 1, "command": "demote", "mode": "+", "amount": True, "group": None},
            "demote: 'amount' must be an integer 0-1000000, not True",
        ),
        (
            {"v": 1, "command": "demote", "mode": "+", "amount": 2.0, "group": None},
            "demote: 'amount' must be an integer 0-1000000, not 2.0",
        ),
        (
            {"v": 1, "command": "demote", "mode": "+", "amount": 1, "group": 1},
            "group must be a string VHID@IF, VHID 1-255 and IF an interface name (e.g. 1@eth0), "
            "not a number",
        ),
        (
            {"v": 1, "command": "state", "group": "1@eth0", "state": "MASTER"},
            "state: 'state' must be master or backup, not 'MASTER'",
        ),
    ],
)
def test_invalid_requests(document: Any, message: str) -> None:
    assert refusal(document) == message


@pytest.mark.parametrize(
    "group",
    [
        "1",
        "0@eth0",
        "256@eth0",
        "01@eth0",
        "1@",
        "@eth0",
        "1@eth/0",
        "1@a b",
        "1@" + "x" * 16,
        "1@eth0@x",
        "\u0661@eth0",  # an Arabic-Indic digit one: isdigit() but not ASCII
        "-1@eth0",
        "1@..",
        "1@eth0\n",
    ],
)
def test_malformed_groups(group: str) -> None:
    message = refusal({"v": 1, "command": "state", "group": group, "state": "backup"})
    assert message == (
        f"group {group!r} is not VHID@IF, VHID 1-255 and IF an interface name (e.g. 1@eth0)"
    )


def test_not_json_is_one_line() -> None:
    for line in (b"{", b"\xff\xfe", b""):
        with pytest.raises(ControlError) as error:
            protocol.parse_request(line)
        assert error.value.message.startswith("request is not JSON: ")
        assert "\n" not in error.value.message


def test_encoding_is_one_line_and_rejects_nan() -> None:
    line = protocol.encode(protocol.ok_reply("multi\nline text", status={"a": "b\nc"}))
    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1
    with pytest.raises(ValueError, match="JSON"):
        protocol.encode({"x": float("nan")})


def test_error_replies_keep_only_the_first_line() -> None:
    assert protocol.error_reply("internal", "first\nsecond")["message"] == "first"
    assert protocol.error_reply("internal", "  ")["message"] == "(no message)"


def test_command_of_names_only_known_commands() -> None:
    assert protocol.command_of({"command": "demote", "mode": 3}) == "demote"
    assert protocol.command_of({"command": "x" * 1000}) == "invalid"
    assert protocol.command_of(["status"]) == "invalid"
