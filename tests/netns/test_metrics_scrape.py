"""Prometheus metrics scraped from a real daemon during a failover (``--metrics``).

The scrapes run in the backup's namespace (the exporter listens on its loopback), are parsed
with prometheus_client's own parser, and must follow the takeover: is_master 0 then 1, the
transition counted once with its cause, the takeover's duration measured, and the adverts sent
growing once it is master.
"""

from __future__ import annotations

import pathlib
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from pycarp.lab import Lab
from pycarp.lab.daemons import Daemon, pycarp_args, start_pycarp, wait_for

from .support import (
    ELECTION_TIMEOUT,
    VIPS,
    master_down,
    wait_for_stable_master,
    wait_started,
)

METRICS_PORT = 9812


def scrape(lab: Lab, node: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of the node's exporter, keyed by (name, labels)."""
    with lab.inside(node):
        url = f"http://127.0.0.1:{METRICS_PORT}/metrics"
        direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no http_proxy
        with direct.open(url, timeout=5) as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/plain")
            text = response.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def group(**labels: str) -> frozenset[tuple[str, str]]:
    return frozenset({"interface": "eth0", "vhid": "1", **labels}.items())


def test_metrics_follow_a_failover(lab: Lab, tmp_path: pathlib.Path) -> None:
    daemons: dict[str, Daemon] = {}
    for node, skew in (("h1", 0), ("h2", 100)):
        extra = ["--metrics", f"127.0.0.1:{METRICS_PORT}"] if node == "h2" else []
        args = pycarp_args(lab, node, addresses=VIPS, advskew=skew, extra=extra)
        daemons[node] = start_pycarp(lab, node, args, workdir=tmp_path)
        wait_started(daemons[node])
    wait_for_stable_master(daemons, "h1")

    before = scrape(lab, "h2")
    assert before[("pycarp_group_is_master", group())] == 0
    assert before[("pycarp_group_state", group(state="BACKUP"))] == 1
    assert before[("pycarp_group_advskew_on_wire", group())] == 100
    assert before[("pycarp_group_adverts_received_total", group())] >= 1
    assert ("pycarp_group_last_takeover_seconds", group()) not in before
    takeovers = (
        "pycarp_group_transitions_total",
        group(**{"from": "BACKUP", "to": "MASTER", "cause": "timer"}),
    )
    assert before.get(takeovers, 0) == 0
    assert before[("process_resident_memory_bytes", frozenset())] > 0

    daemons["h1"].kill()
    wait_for(
        lambda: scrape(lab, "h2")[("pycarp_group_is_master", group())] == 1,
        master_down(100) + ELECTION_TIMEOUT,
        interval=0.05,
    )
    wait_for(lambda: ("pycarp_group_last_takeover_seconds", group()) in scrape(lab, "h2"), 3)
    after = scrape(lab, "h2")
    assert after[("pycarp_group_state", group(state="MASTER"))] == 1
    assert after[("pycarp_group_state", group(state="BACKUP"))] == 0
    assert after[takeovers] == 1
    # From the state change to the last address in place: netlink work, milliseconds.
    assert 0 < after[("pycarp_group_last_takeover_seconds", group())] < 0.5
    sent = after[("pycarp_group_adverts_sent_total", group())]
    wait_for(lambda: scrape(lab, "h2")[("pycarp_group_adverts_sent_total", group())] > sent, 3)
