"""Metrics as a scrape shows them: a fake status document plus facts on a real event stream,
rendered by the real registry and parsed back with prometheus_client's own parser."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from pycarp.observe.facts import ControlRequest, DaemonStarted, GroupStopped
from pycarp.observe.metrics import MAX_COMMANDS, Metrics, StatusSchemaError
from pycarp.observe.stream import EventStream

from .support import (
    FakeDaemon,
    Samples,
    address_added,
    group_status,
    names,
    parse,
    state_changed,
    track_status,
    value,
)

G1 = {"interface": "eth0", "vhid": "1"}


def setup(*groups: dict[str, object]) -> tuple[FakeDaemon, EventStream, Metrics]:
    daemon = FakeDaemon(*(groups or (group_status(),)))
    stream = EventStream(monotonic=lambda: 10.0, wall=lambda: 1_700_000_010.0)
    return daemon, stream, Metrics(daemon.status, stream)


def scrape(metrics: Metrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return parse(metrics.render().decode())


def test_is_master_and_state_follow_the_status_and_the_transition_is_counted() -> None:
    daemon, stream, metrics = setup()
    before = scrape(metrics)
    assert value(before, "pycarp_group_is_master", **G1) == 0
    assert value(before, "pycarp_group_state", **G1, state="BACKUP") == 1
    assert value(before, "pycarp_group_state", **G1, state="MASTER") == 0
    assert value(before, "pycarp_group_transitions_total", **G1) is None

    stream.publish(state_changed("BACKUP", "MASTER", "timer"))
    daemon.group(1)["state"] = "MASTER"
    after = scrape(metrics)
    assert value(after, "pycarp_group_is_master", **G1) == 1
    states = {s: value(after, "pycarp_group_state", **G1, state=s) for s in ("INIT", "BACKUP")}
    assert states == {"INIT": 0, "BACKUP": 0}
    assert value(after, "pycarp_group_state", **G1, state="MASTER") == 1
    labels = {**G1, "from": "BACKUP", "to": "MASTER", "cause": "timer"}
    assert value(after, "pycarp_group_transitions_total", **labels) == 1


def test_an_unknown_state_is_shown_rather_than_all_zero() -> None:
    _, _, metrics = setup(group_status(state="DRAINING"))
    samples = scrape(metrics)
    assert value(samples, "pycarp_group_state", **G1, state="DRAINING") == 1
    assert value(samples, "pycarp_group_state", **G1, state="BACKUP") == 0
    assert value(samples, "pycarp_group_is_master", **G1) == 0


def test_transitions_are_counted_by_cause_and_the_free_text_reason_is_no_label() -> None:
    _, stream, metrics = setup(group_status(), group_status(vhid=2, interface="eth1"))
    stream.publish(state_changed("INIT", "BACKUP", "start", reason="secret 203.0.113.9 text"))
    stream.publish(state_changed("BACKUP", "MASTER", "timer"))
    stream.publish(state_changed("MASTER", "BACKUP", "preempt"))
    stream.publish(state_changed("BACKUP", "MASTER", "timer"))
    stream.publish(state_changed("BACKUP", "MASTER", "forced", vhid=2, interface="eth1"))
    text = metrics.render().decode()
    assert "203.0.113.9" not in text
    samples = parse(text)

    def count(old: str, new: str, cause: str, **group: str) -> float | None:
        labels = {**(group or G1), "from": old, "to": new, "cause": cause}
        return value(samples, "pycarp_group_transitions_total", **labels)

    assert count("INIT", "BACKUP", "start") == 1
    assert count("BACKUP", "MASTER", "timer") == 2
    assert count("MASTER", "BACKUP", "preempt") == 1
    assert count("BACKUP", "MASTER", "forced") is None
    assert count("BACKUP", "MASTER", "forced", interface="eth1", vhid="2") == 1


def test_takeover_seconds_is_the_slowest_add_of_the_current_takeover() -> None:
    _, stream, metrics = setup()
    stream.publish(address_added(5.0))  # an add while not MASTER (e.g. a stale replay): ignored
    assert value(scrape(metrics), "pycarp_group_last_takeover_seconds", **G1) is None

    stream.publish(state_changed("BACKUP", "MASTER", "timer"))
    stream.publish(address_added(12.0))
    assert value(scrape(metrics), "pycarp_group_last_takeover_seconds", **G1) == 0.012
    stream.publish(address_added(30.0, address="2001:db8::100/64"))
    assert value(scrape(metrics), "pycarp_group_last_takeover_seconds", **G1) == 0.030
    # A fact published out of order (a faster add reported late) does not shorten it.
    stream.publish(address_added(20.0, address="198.51.100.101/24"))
    assert value(scrape(metrics), "pycarp_group_last_takeover_seconds", **G1) == 0.030

    # Leaving MASTER keeps the last figure; the next takeover replaces it, even when faster.
    stream.publish(state_changed("MASTER", "BACKUP", "preempt"))
    stream.publish(address_added(40.0, added=False))
    assert value(scrape(metrics), "pycarp_group_last_takeover_seconds", **G1) == 0.030
    stream.publish(state_changed("BACKUP", "MASTER", "timer"))
    stream.publish(address_added(4.2))  # 4.2 / 1000 is 0.004200000000000001 in binary
    assert value(scrape(metrics), "pycarp_group_last_takeover_seconds", **G1) == 0.0042


def test_failed_address_changes_count_as_errors_and_not_as_takeover_time() -> None:
    _, stream, metrics = setup()
    stream.publish(state_changed("BACKUP", "MASTER", "timer"))
    stream.publish(address_added(3.0))
    stream.publish(address_added(900.0, address="198.51.100.101/24", error="EEXIST"))
    stream.publish(address_added(2.0, added=False, error="ENODEV"))
    stream.publish(address_added(2.0, added=False, error="ENODEV"))
    samples = scrape(metrics)
    assert value(samples, "pycarp_group_last_takeover_seconds", **G1) == 0.003
    assert value(samples, "pycarp_address_errors_total", **G1, change="add") == 1
    assert value(samples, "pycarp_address_errors_total", **G1, change="remove") == 2


def test_a_stopped_group_loses_its_takeover_gauge_but_keeps_its_counters() -> None:
    _, stream, metrics = setup()
    stream.publish(state_changed("BACKUP", "MASTER", "timer"))
    stream.publish(address_added(7.0))
    stream.publish(GroupStopped(group="1@eth0", vhid=1, interface="eth0", reason="reload"))
    stream.publish(address_added(9.0))  # no takeover in progress any more
    samples = scrape(metrics)
    assert value(samples, "pycarp_group_last_takeover_seconds", **G1) is None
    labels = {**G1, "from": "BACKUP", "to": "MASTER", "cause": "timer"}
    assert value(samples, "pycarp_group_transitions_total", **labels) == 1


def test_drop_reasons_of_groups_and_of_interfaces() -> None:
    daemon, _, metrics = setup()
    daemon.group(1)["drops"] = {"bad_hmac": 7, "bad_ttl": 2}
    daemon.doc["interfaces"] = [
        {"interface": "eth0", "carrier": True, "drops": {"unknown_vhid": 5}},
        {"interface": "eth1", "carrier": None, "drops": {"too_short": 1}},
    ]
    samples = scrape(metrics)
    assert value(samples, "pycarp_group_drops_total", **G1, reason="bad_hmac") == 7
    assert value(samples, "pycarp_group_drops_total", **G1, reason="bad_ttl") == 2
    iface = "pycarp_interface_drops_total"
    assert value(samples, iface, interface="eth0", reason="unknown_vhid") == 5
    assert value(samples, iface, interface="eth1", reason="too_short") == 1
    assert value(samples, "pycarp_interface_carrier", interface="eth0") == 1
    assert value(samples, "pycarp_interface_carrier", interface="eth1") is None  # unknown


def test_status_counters_and_gauges() -> None:
    daemon, _, metrics = setup(group_status(), group_status(vhid=2, state="MASTER"))
    g = daemon.group(1)
    g.update(adverts_sent=11, adverts_received=220, send_errors=3, demotion=240)
    g.update(advskew_on_wire=255, hooks={"runs": 9, "failures": 2, "timeouts": 1})
    g["demotion_sources"].update(carrier=240)
    daemon.doc["maintenance"] = True
    daemon.doc["demotion"] = {"operator": 50}
    daemon.doc["uptime"] = 99.25
    samples = scrape(metrics)
    expected = {
        "pycarp_group_adverts_sent_total": 11,
        "pycarp_group_adverts_received_total": 220,
        "pycarp_group_send_errors_total": 3,
        "pycarp_group_demotion": 240,
        "pycarp_group_advskew_on_wire": 255,
        "pycarp_group_hook_runs_total": 9,
        "pycarp_group_hook_failures_total": 2,
        "pycarp_group_hook_timeouts_total": 1,
        "pycarp_group_state_since_timestamp_seconds": 1_700_000_000.5,
    }
    assert {name: value(samples, name, **G1) for name in expected} == expected
    assert value(samples, "pycarp_group_adverts_sent_total", interface="eth0", vhid="2") == 0
    assert value(samples, "pycarp_group_is_master", interface="eth0", vhid="2") == 1
    assert value(samples, "pycarp_group_demotion_source", **G1, source="carrier") == 240
    assert value(samples, "pycarp_group_demotion_source", **G1, source="operator") == 0
    assert value(samples, "pycarp_maintenance") == 1
    assert value(samples, "pycarp_operator_demotion") == 50
    assert value(samples, "pycarp_uptime_seconds") == 99.25


def test_each_scrape_reads_the_status_once() -> None:
    daemon, _, metrics = setup()
    assert daemon.reads == 0  # registering the collector does not read the status
    scrape(metrics)
    scrape(metrics)
    assert daemon.reads == 2


def test_a_status_of_another_version_fails_the_scrape() -> None:
    daemon, _, metrics = setup()
    daemon.doc["v"] = 2
    with pytest.raises(StatusSchemaError, match="version 2"):
        metrics.render()


def test_control_requests_by_command_and_outcome_with_a_bounded_label() -> None:
    _, stream, metrics = setup()

    def request(command: str, ok: bool) -> None:
        fact = ControlRequest(uid=0, command=command, arguments={}, ok=ok, message="")
        stream.publish(fact)

    request("maintenance", True)
    request("maintenance", True)
    request("demote", False)
    request("GET / HTTP/1.1\r\n", False)  # not a command name: never a label
    made_up = MAX_COMMANDS + 5
    for n in range(made_up):
        request(f"made_up_{n}", False)
    samples = scrape(metrics)
    name = "pycarp_control_requests_total"
    assert value(samples, name, command="maintenance", ok="true") == 2
    assert value(samples, name, command="demote", ok="false") == 1
    commands = {dict(labels)["command"] for n, labels in samples if n == name}
    assert len(commands) == MAX_COMMANDS + 1  # the cap, plus "other"
    made_up_counted = len(commands) - 3  # maintenance, demote, other
    assert value(samples, name, command="other", ok="false") == 1 + made_up - made_up_counted


def test_events_are_counted_by_kind_and_close_stops_counting() -> None:
    _, stream, metrics = setup()
    stream.publish(DaemonStarted(pid=1, groups=1, version="0.1.0"))
    stream.publish(state_changed("INIT", "BACKUP", "start"))
    stream.publish(state_changed("BACKUP", "MASTER", "timer"))
    metrics.close()
    stream.publish(state_changed("MASTER", "BACKUP", "preempt"))
    samples = scrape(metrics)
    assert value(samples, "pycarp_events_total", event="daemon_started") == 1
    assert value(samples, "pycarp_events_total", event="state_changed") == 2
    preempt = {**G1, "from": "MASTER", "to": "BACKUP", "cause": "preempt"}
    assert value(samples, "pycarp_group_transitions_total", **preempt) is None


def test_process_metrics_are_on_the_private_registry_only() -> None:
    _, stream, metrics = setup()
    stream.publish(state_changed("BACKUP", "MASTER", "timer"))
    present = names(scrape(metrics))
    assert {"process_resident_memory_bytes", "process_open_fds", "python_info"} <= present
    assert not any(n.startswith("pycarp_") for n in names(parse(_global_exposition())))
    # A second exporter in the same process has its own numbers.
    _, _, other = setup()
    labels = {**G1, "from": "BACKUP", "to": "MASTER", "cause": "timer"}
    assert value(scrape(other), "pycarp_group_transitions_total", **labels) is None


def _global_exposition() -> str:
    from prometheus_client import generate_latest

    return generate_latest(REGISTRY).decode()


def track_value(samples: Samples, metric: str, track: str, **labels: str) -> float | None:
    """A track's series: its label is ``name``, which ``value()`` takes for itself."""
    return samples.get((metric, frozenset({("name", track), *labels.items()})))


def test_tracks_up_demotion_and_checks_by_result() -> None:
    daemon, _, metrics = setup()
    web = track_status(name="web", state="down", demotion=240)
    web["checks"].update(ok=40, failed=3, timed_out=2)
    daemon.doc["tracks"] = [web, track_status(name="uplink")]
    samples = scrape(metrics)
    assert track_value(samples, "pycarp_track_up", "web") == 0
    assert track_value(samples, "pycarp_track_up", "uplink") == 1
    assert track_value(samples, "pycarp_track_demotion", "web") == 240
    assert track_value(samples, "pycarp_track_demotion", "uplink") == 0
    counts = {
        result: track_value(samples, "pycarp_track_checks_total", "web", result=result)
        for result in ("ok", "failed", "timed_out", "error")
    }
    assert counts == {"ok": 40, "failed": 3, "timed_out": 2, "error": 0}
    daemon.doc["tracks"] = []
    assert track_value(scrape(metrics), "pycarp_track_up", "web") is None


def test_vrrp3_groups_have_their_priority_and_address_mismatches() -> None:
    daemon, _, metrics = setup(group_status(), group_status(vhid=2))
    daemon.group(2)["vrrp"] = {"priority_on_wire": 154, "address_mismatches": 7}
    samples = scrape(metrics)
    g2 = {"interface": "eth0", "vhid": "2"}
    assert value(samples, "pycarp_group_vrrp_priority", **g2) == 154
    assert value(samples, "pycarp_group_address_mismatches_total", **g2) == 7
    assert not any(
        name.startswith("pycarp_group_vrrp_priority") and dict(labels)["vhid"] == "1"
        for name, labels in samples
    ), "a CARP group has no priority"
