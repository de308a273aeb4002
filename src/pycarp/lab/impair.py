"""Faults on the switch: carrier loss, partitions and random packet loss.

There is no ``tc netem`` on the target kernel, so loss and partitions are nftables rules in a
``bridge`` family table of the switch namespace, hooked on ``forward`` (every frame between two
ports crosses it exactly once per output port, multicast copies included). Each change is one
``nft -f`` transaction: a rule set is replaced atomically, never half-applied.

Carrier loss is the switch-side port going down: the host's veth then reports NO-CARRIER, which
is what a pulled cable looks like to the host.
"""

from __future__ import annotations

import json
import typing

from pycarp.lab import namespaces
from pycarp.lab.naming import LabError

TABLE = "pycarp_lab"
PARTITION_CHAIN = "partition"
_NO_SUCH_TABLE = "No such file or directory"  # what nft says when the table does not exist


def _loss_chain(node: str) -> str:
    return f"loss_{node}"


def _nft(switch: str, script: str) -> None:
    namespaces.run_in(switch, ["nft", "-f", "-"], stdin=script)


def install_table(switch: str, nodes: typing.Sequence[str]) -> None:
    """Create the table if needed: forward chain -> partition chain, then one loss chain per
    node. Idempotent: existing loss/partition rules survive (``pycarp lab up`` run twice)."""
    lines = [
        f"add table bridge {TABLE}",
        f"add chain bridge {TABLE} {PARTITION_CHAIN}",
        *(f"add chain bridge {TABLE} {_loss_chain(node)}" for node in nodes),
        f"add chain bridge {TABLE} forward"
        " { type filter hook forward priority 0; policy accept; }",
        f"flush chain bridge {TABLE} forward",
        f"add rule bridge {TABLE} forward jump {PARTITION_CHAIN}",
        *(f"add rule bridge {TABLE} forward jump {_loss_chain(node)}" for node in nodes),
    ]
    _nft(switch, "\n".join(lines) + "\n")


def delete_table(switch: str) -> None:
    """Remove the table if it is there (an absent table is fine: idempotent)."""
    if namespaces.exists(switch):
        namespaces.run_in(switch, ["nft", "delete", "table", "bridge", TABLE], check=False)


def set_loss(switch: str, node: str, percent: float) -> None:
    """Drop ``percent`` % of frames into and out of ``node``'s port (0 clears, 100 blocks)."""
    if not 0 <= percent <= 100:
        raise LabError(f"loss must be 0..100 %, got {percent}")
    chain = _loss_chain(node)
    lines = [f"flush chain bridge {TABLE} {chain}"]
    rounded = round(percent)
    # numgen's comparison value must be below the modulus, so 100 % is an unconditional drop.
    match = "" if rounded >= 100 else f"numgen random mod 100 < {rounded} "
    if rounded > 0:
        for direction in ("iifname", "oifname"):
            lines.append(f'add rule bridge {TABLE} {chain} {direction} "{node}" {match}drop')
    _nft(switch, "\n".join(lines) + "\n")


def partition(switch: str, groups: typing.Sequence[typing.Collection[str]]) -> None:
    """Only nodes in the same group can reach each other; carrier stays up everywhere."""
    lines = [f"flush chain bridge {TABLE} {PARTITION_CHAIN}"]
    for index, group in enumerate(groups):
        others = sorted({node for other in groups[index + 1 :] for node in other})
        if not group or not others:
            continue
        ours = ", ".join(f'"{node}"' for node in sorted(group))
        theirs = ", ".join(f'"{node}"' for node in others)
        for left, right in ((ours, theirs), (theirs, ours)):
            lines.append(
                f"add rule bridge {TABLE} {PARTITION_CHAIN}"
                f" iifname {{ {left} }} oifname {{ {right} }} drop"
            )
    _nft(switch, "\n".join(lines) + "\n")


def set_carrier(switch: str, node: str, up: bool) -> None:
    namespaces.ip_batch(switch, [f"link set {node} {'up' if up else 'down'}"])


def describe(switch: str) -> dict[str, str]:
    """What is impaired, per node, read back from the rule set (for ``pycarp lab status``)."""
    done = namespaces.run_in(switch, ["nft", "-j", "list", "table", "bridge", TABLE], check=False)
    if done.returncode != 0:
        if _NO_SUCH_TABLE in done.stderr:  # a half-built lab: nothing can be impaired yet
            return {}
        detail = done.stderr.strip().replace("\n", "; ")
        raise LabError(f"nft list table bridge {TABLE} in {switch} failed: {detail}")
    notes: dict[str, str] = {}
    for item in json.loads(done.stdout).get("nftables", []):
        rule = item.get("rule")
        if not rule or not rule["chain"].startswith("loss_"):
            if rule and rule["chain"] == PARTITION_CHAIN:
                notes["*"] = "partitioned"
            continue
        node = rule["chain"].removeprefix("loss_")
        percent = 100
        for expr in rule["expr"]:
            match = expr.get("match", {})
            if "numgen" in match.get("left", {}):
                percent = int(match["right"])
        notes[node] = f"loss {percent}%"
    return notes
