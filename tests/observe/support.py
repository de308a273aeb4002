"""A fake daemon status, fact builders and a scrape parser shared by the observe tests."""

from __future__ import annotations

import copy
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from pycarp.observe.facts import AddressChanged, StateChanged


def group_status(
    *, vhid: int = 1, interface: str = "eth0", state: str = "BACKUP"
) -> dict[str, Any]:
    """One group of the v1 status document, counters at zero (tests set what they check)."""
    return {
        "group": f"{vhid}@{interface}",
        "vhid": vhid,
        "interface": interface,
        "state": state,
        "since_wall": 1_700_000_000.5,
        "reason": "started",
        "addresses": ["198.51.100.100/24"],
        "advbase": 1,
        "advskew": 0,
        "advskew_on_wire": 0,
        "preempt": False,
        "demotion": 0,
        "demotion_sources": {
            "carrier": 0,
            "send_errors": 0,
            "operator": 0,
            "group_operator": 0,
            "maintenance": 0,
            "tracks": 0,
        },
        "maintenance": False,
        "master": None,
        "why": "",
        "adverts_sent": 0,
        "adverts_received": 0,
        "send_errors": 0,
        "drops": {},
        "hooks": {"runs": 0, "failures": 0, "timeouts": 0},
    }


def track_status(*, name: str = "web", state: str = "up", demotion: int = 0) -> dict[str, Any]:
    """One track of the v1 status document."""
    return {
        "name": name,
        "kind": "script",
        "target": "/usr/bin/curl -fsS http://127.0.0.1/health",
        "state": state,
        "mode": "weight",
        "weight": 50,
        "interval": 1.0,
        "timeout": 1.0,
        "fall": 2,
        "rise": 2,
        "consecutive": 3,
        "demotion": demotion,
        "since_wall": None,
        "last_result": "ok",
        "last_detail": "",
        "last_exit_status": 0,
        "last_output": [],
        "last_wall": 1_700_000_001.0,
        "groups": ["1@eth0"],
        "checks": {"ok": 0, "failed": 0, "timed_out": 0, "error": 0},
    }


class FakeDaemon:
    """Holds a status document the test edits; counts how often it was read."""

    def __init__(self, *groups: dict[str, Any]) -> None:
        self.doc: dict[str, Any] = {
            "v": 1,
            "pid": 4242,
            "instance": "test",
            "uptime": 12.5,
            "maintenance": False,
            "demotion": {"operator": 0},
            "interfaces": [{"interface": "eth0", "carrier": True, "drops": {}}],
            "groups": list(groups),
            "tracks": [],
        }
        self.reads = 0

    def status(self) -> dict[str, Any]:
        self.reads += 1
        return copy.deepcopy(self.doc)

    def group(self, vhid: int, interface: str = "eth0") -> dict[str, Any]:
        for group in self.doc["groups"]:
            if group["vhid"] == vhid and group["interface"] == interface:
                assert isinstance(group, dict)
                return group
        raise KeyError(f"{vhid}@{interface}")


def state_changed(
    old: str, new: str, cause: str, *, vhid: int = 1, interface: str = "eth0", reason: str = ""
) -> StateChanged:
    return StateChanged(
        group=f"{vhid}@{interface}",
        vhid=vhid,
        interface=interface,
        old=old,
        new=new,
        reason=reason or f"{old} to {new} because of {cause}",
        cause=cause,
    )


def address_added(
    latency_ms: float,
    *,
    address: str = "198.51.100.100/24",
    vhid: int = 1,
    interface: str = "eth0",
    added: bool = True,
    error: str = "",
) -> AddressChanged:
    return AddressChanged(
        group=f"{vhid}@{interface}",
        vhid=vhid,
        interface=interface,
        address=address,
        added=added,
        latency_ms=latency_ms,
        error=error,
    )


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    """Every sample of a text exposition, keyed by name and label set."""
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = (sample.name, frozenset(sample.labels.items()))
            assert key not in samples, f"duplicate series {key}"
            samples[key] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float | None:
    """The value of one series, or None if the exposition does not have it."""
    return samples.get((name, frozenset(labels.items())))


def names(samples: Samples) -> set[str]:
    return {name for name, _ in samples}
