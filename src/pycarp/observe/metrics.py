"""Prometheus metrics: one private registry, fed by the status document and the event stream.

Two sources, each for what it is good at:

* **State and counters** (is master, demotion, adverts, drops, hooks) are read from the daemon's
  ``status()`` at scrape time by :class:`StatusCollector`. The status document is the daemon's
  own view, so a scrape can never disagree with ``pycarp status``, and nothing is kept twice.
* **Things that only exist as facts** (a transition and its cause, how long a takeover took, a
  failed address change, an operator request) are counted from the
  :class:`~pycarp.observe.stream.EventStream` as they are published, by :class:`Metrics`.

The registry is a private :class:`~prometheus_client.CollectorRegistry`, never the library's
global one: a test, or two daemons in one process (the simulator, the lab), each get their own
numbers, and nothing else in the process can add series to ours.

Label cardinality stays bounded by configuration: groups and interfaces come from the config,
``cause`` and drop reasons are fixed slugs, and the free-text ``reason`` of a state change is
never a label. Control commands are the one label a client chooses, so they are capped
(:data:`MAX_COMMANDS`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from pycarp.observe.facts import (
    AddressChanged,
    ControlRequest,
    GroupStopped,
    StateChanged,
)
from pycarp.observe.http import ExpositionServer
from pycarp.observe.stream import EventStream, Published

log = logging.getLogger("pycarp")

STATUS_VERSION = 1
STATES = ("INIT", "BACKUP", "MASTER")
HOOK_COUNTERS = ("runs", "failures", "timeouts")
GROUP = ("interface", "vhid")
TRACK = ("name",)  # track names are configured words (config/tracks.py): bounded
MAX_COMMANDS = 32  # distinct control command labels; later newcomers are counted as "other"
_COMMAND = re.compile(r"[a-z][a-z0-9_-]{0,31}")

StatusSource = Callable[[], Mapping[str, Any]]
Family = GaugeMetricFamily | CounterMetricFamily


class StatusSchemaError(ValueError):
    """The status document is not the version this exporter understands: a scrape fails loudly
    (HTTP 500) rather than exporting numbers read from the wrong fields."""


class StatusCollector:
    """A custom collector: every sample is computed from one ``status()`` call per scrape.

    ``status`` reads the daemon's live state, so ``collect`` must run on the event loop thread
    (which :class:`~pycarp.observe.http.ExpositionServer` guarantees).
    """

    def __init__(self, status: StatusSource) -> None:
        self._status = status

    def describe(self) -> Iterable[Metric]:
        """The families without samples: lets the registry detect name clashes at registration
        without calling ``status()`` (which may not be ready before the daemon starts)."""
        return self._families().values()

    def collect(self) -> Iterable[Metric]:
        status = self._status()
        if status.get("v") != STATUS_VERSION:
            raise StatusSchemaError(
                f"status document version {status.get('v')!r}, expected {STATUS_VERSION}"
            )
        families = self._families()
        families["maintenance"].add_metric([], 1.0 if status["maintenance"] else 0.0)
        families["uptime"].add_metric([], float(status["uptime"]))
        families["operator_demotion"].add_metric([], float(status["demotion"]["operator"]))
        for interface in status["interfaces"]:
            name = str(interface["interface"])
            if interface.get("carrier") is not None:
                families["carrier"].add_metric([name], 1.0 if interface["carrier"] else 0.0)
            for reason, count in sorted(interface["drops"].items()):
                families["interface_drops"].add_metric([name, str(reason)], float(count))
        for group in status["groups"]:
            _add_group(families, group)
        for track in status.get("tracks", ()):  # schema v1 grew it: absent from older daemons
            name = str(track["name"])
            families["track_up"].add_metric([name], 1.0 if track["state"] == "up" else 0.0)
            families["track_demotion"].add_metric([name], float(track["demotion"]))
            for result, count in sorted(track["checks"].items()):
                families["track_checks"].add_metric([name, str(result)], float(count))
        return families.values()

    @staticmethod
    def _families() -> dict[str, Family]:
        def gauge(name: str, doc: str, labels: Iterable[str] = GROUP) -> GaugeMetricFamily:
            return GaugeMetricFamily(f"pycarp_{name}", doc, labels=list(labels))

        def counter(name: str, doc: str, labels: Iterable[str] = GROUP) -> CounterMetricFamily:
            return CounterMetricFamily(f"pycarp_{name}", doc, labels=list(labels))

        return {
            "maintenance": gauge("maintenance", "1 while host-wide maintenance is on.", ()),
            "uptime": gauge("uptime_seconds", "Seconds since the daemon started.", ()),
            "operator_demotion": gauge(
                "operator_demotion", "Host-wide demotion set by the operator.", ()
            ),
            "carrier": gauge(
                "interface_carrier", "1 if the interface has carrier, 0 if not.", ["interface"]
            ),
            "interface_drops": counter(
                "interface_drops",
                "Adverts dropped on an interface before matching any group, by reason.",
                ["interface", "reason"],
            ),
            "is_master": gauge("group_is_master", "1 while this host is the group's master."),
            "state": gauge(
                "group_state",
                "1 for the group's current state, 0 for the others.",
                [*GROUP, "state"],
            ),
            "since": gauge(
                "group_state_since_timestamp_seconds",
                "Unix time at which the group entered its current state.",
            ),
            "demotion": gauge("group_demotion", "The group's total demotion (all sources)."),
            "demotion_source": gauge(
                "group_demotion_source",
                "The group's demotion by source (carrier, send_errors, operator, ...).",
                [*GROUP, "source"],
            ),
            "advskew_on_wire": gauge(
                "group_advskew_on_wire", "The advskew sent in adverts (configured + demotion)."
            ),
            "vrrp_priority": gauge(
                "group_vrrp_priority", "VRRPv3 groups: the priority sent (configured - demotion)."
            ),
            "address_mismatches": counter(
                "group_address_mismatches",
                "VRRPv3 groups: adverts accepted whose address list differs from ours.",
            ),
            "adverts_sent": counter("group_adverts_sent", "Adverts sent by this host."),
            "adverts_received": counter(
                "group_adverts_received", "Valid adverts received for the group."
            ),
            "send_errors": counter("group_send_errors", "Adverts that could not be sent."),
            "drops": counter(
                "group_drops",
                "Adverts for the group that were dropped, by reason.",
                [*GROUP, "reason"],
            ),
            **{
                f"hook_{kind}": counter(f"group_hook_{kind}", f"Hook {kind} of the group.")
                for kind in HOOK_COUNTERS
            },
            "track_up": gauge("track_up", "1 while the health track is up, 0 while down.", TRACK),
            "track_demotion": gauge(
                "track_demotion", "The demotion the track adds to each of its groups.", TRACK
            ),
            "track_checks": counter(
                "track_checks",
                "Checks run by the track, by result (ok, failed, timed_out, error).",
                [*TRACK, "result"],
            ),
        }


def _add_group(families: dict[str, Family], group: Mapping[str, Any]) -> None:
    labels = [str(group["interface"]), str(group["vhid"])]

    def put(key: str, value: float, *extra: str) -> None:
        families[key].add_metric([*labels, *extra], float(value))

    state = str(group["state"])
    put("is_master", 1.0 if state == "MASTER" else 0.0)
    # An unknown (newer) state is still shown, so nothing is hidden behind "all zero".
    for name in (*STATES, *((state,) if state not in STATES else ())):
        put("state", 1.0 if name == state else 0.0, name)
    put("since", group["since_wall"])
    put("demotion", group["demotion"])
    for source, value in sorted(group["demotion_sources"].items()):
        put("demotion_source", value, str(source))
    put("advskew_on_wire", group["advskew_on_wire"])
    put("adverts_sent", group["adverts_sent"])
    put("adverts_received", group["adverts_received"])
    put("send_errors", group["send_errors"])
    for reason, count in sorted(group["drops"].items()):
        put("drops", count, str(reason))
    for kind in HOOK_COUNTERS:
        put(f"hook_{kind}", group["hooks"][kind])
    vrrp = group.get("vrrp")
    if vrrp is not None:
        put("vrrp_priority", vrrp["priority_on_wire"])
        put("address_mismatches", vrrp["address_mismatches"])


class Metrics:
    """The daemon's metrics: create it before the first fact is published, scrape with
    :meth:`render` or serve with :meth:`serve`, and :meth:`close` it at shutdown."""

    def __init__(self, status: StatusSource, stream: EventStream) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(StatusCollector(status))
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        self._transitions = Counter(
            "pycarp_group_transitions",
            "State changes of a group, by old and new state and by cause.",
            [*GROUP, "from", "to", "cause"],
            registry=self.registry,
        )
        self._takeover = Gauge(
            "pycarp_group_last_takeover_seconds",
            "The last takeover: from the change to MASTER until its last address was added.",
            list(GROUP),
            registry=self.registry,
        )
        self._address_errors = Counter(
            "pycarp_address_errors",
            "Address changes that failed (nothing changed), by change (add, remove).",
            [*GROUP, "change"],
            registry=self.registry,
        )
        self._control = Counter(
            "pycarp_control_requests",
            "Operator requests (control socket or signal), by command and whether it was done.",
            ["command", "ok"],
            registry=self.registry,
        )
        self._events = Counter(
            "pycarp_events",
            "Facts published on the event stream, by kind.",
            ["event"],
            registry=self.registry,
        )
        # Per group (interface, vhid): the slowest successful add of the current takeover, in
        # seconds; a group is here only while it is MASTER.
        self._takeovers: dict[tuple[str, str], float] = {}
        self._commands: set[str] = set()
        self._unsubscribe: Callable[[], None] | None = stream.subscribe(self._on_fact)

    def render(self) -> bytes:
        """The text exposition of every metric (call it on the event loop thread)."""
        return generate_latest(self.registry)

    async def serve(self, host: str, port: int) -> ExpositionServer:
        """Serve ``/metrics`` on ``host:port`` (IPv4 or IPv6 address; port 0: any free one)."""
        server = ExpositionServer(self.render)
        await server.start(host, port)
        return server

    def close(self) -> None:
        """Stop counting facts (the registry can still be rendered)."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def _on_fact(self, published: Published) -> None:
        fact = published.fact
        self._events.labels(fact.kind).inc()
        if isinstance(fact, StateChanged):
            self._on_state(fact)
        elif isinstance(fact, AddressChanged):
            self._on_address(fact)
        elif isinstance(fact, ControlRequest):
            self._control.labels(self._command_label(fact.command), str(fact.ok).lower()).inc()
        elif isinstance(fact, GroupStopped):
            key = (fact.interface, str(fact.vhid))
            self._takeovers.pop(key, None)
            # A stopped group's takeover time would be a stale gauge; its counters stay, as
            # counters must not go down while the process lives.
            self._takeover.remove(*key)

    def _on_state(self, fact: StateChanged) -> None:
        key = (fact.interface, str(fact.vhid))
        self._transitions.labels(*key, fact.old, fact.new, fact.cause).inc()
        if fact.new == "MASTER":
            self._takeovers[key] = 0.0
        else:
            self._takeovers.pop(key, None)

    def _on_address(self, fact: AddressChanged) -> None:
        key = (fact.interface, str(fact.vhid))
        if fact.error:
            self._address_errors.labels(*key, "add" if fact.added else "remove").inc()
            return
        if not fact.added or key not in self._takeovers:
            return
        # latency_ms counts from the state change, and a takeover adds its addresses in order,
        # so the slowest add so far is the time until the last one was added.
        # Rounded to the microsecond: finer digits would be float noise, not measurement.
        slowest = max(self._takeovers[key], round(fact.latency_ms / 1000.0, 6))
        self._takeovers[key] = slowest
        self._takeover.labels(*key).set(slowest)

    def _command_label(self, command: str) -> str:
        """The command as a label, if it looks like one and the cap allows: a client must not
        be able to grow the exposition by sending made-up commands."""
        if command in self._commands:
            return command
        if _COMMAND.fullmatch(command) and len(self._commands) < MAX_COMMANDS:
            self._commands.add(command)
            return command
        return "other"
