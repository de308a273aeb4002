"""The named scenarios of ``pycarp simulate``, and the validation of what a user may override.

Each scenario is a short script: which hosts, which groups, which faults at which times. Script
times are written in units of ``advbase`` (scaled up when ``dead_ratio`` is above 3), so "the
master dies at t=10" at advbase 1 stays "well after convergence" at advbase 5. At advbase 0
(sub-second) the unit is the slowest host's interval, at least the 0.1 s the hosts take to boot.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

from pycarp.core.settings import MAX_CONFIG_ADVSKEW, SETTING_RANGES, GroupSettings, Range
from pycarp.core.timing import SUB_SECOND_ADVBASE, advertisement_interval, master_down_interval
from pycarp.sim import DEFAULT_PASSPHRASE, group, vrrp_group
from pycarp.sim import faults as fl
from pycarp.sim.chaos import random_faults
from pycarp.sim.mixed import KINDS, mixed_demote
from pycarp.sim.seeds import stream
from pycarp.sim.segment import Link
from pycarp.sim.simulator import Simulator

MAX_HOSTS = 64
MAX_DURATION = 7 * 24 * 3600.0  # a simulated week
MAX_DELAY = 10.0
BOOT_SPREAD = 0.1  # hosts boot at random moments within the first 100 ms
WRONG_PASSPHRASE = b"not-the-group-secret"
INTRUDER = "intruder"


class OptionError(ValueError):
    """An override is out of range: the message names the option and what is allowed."""

    def __init__(self, option: str, value: object, allowed: str) -> None:
        super().__init__(f"{option}: {value} is not allowed ({allowed})")
        self.option = option
        self.value = value
        self.allowed = allowed


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Options:
    """What ``pycarp simulate`` lets a user override; None means "the scenario's default"."""

    hosts: int | None = None
    advskews: tuple[int, ...] | None = None
    advbase: int = 1
    dead_ratio: int = 3
    preempt: bool | None = None
    loss: float | None = None
    delay: float = 0.0005
    jitter: float = 0.0002
    duration: float | None = None
    seed: int = 1
    vrrp3: bool = False


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Params:
    """A scenario's parameters after defaults and validation: everything a run depends on."""

    scenario: str
    hosts: int
    advskews: tuple[int, ...]
    advbase: int
    dead_ratio: int
    preempt: bool
    loss: float
    delay: float
    jitter: float
    duration: float
    seed: int
    vrrp3: bool = False  # VRRPv3 groups: priority 254 - advskew, interval advbase

    @property
    def names(self) -> list[str]:
        return [f"host{i + 1}" for i in range(self.hosts)]

    @property
    def unit(self) -> float:
        """Script time unit: advbase, stretched when dead_ratio is above 3 (advbase 0: the
        slowest host's interval, never under the boot spread)."""
        base: float = self.advbase
        if self.advbase == SUB_SECOND_ADVBASE:
            base = max(advertisement_interval(0, max(self.advskews)), BOOT_SPREAD)
        return base * max(self.dead_ratio, 3) / 3

    @property
    def expected_master(self) -> str:
        """Lowest advskew wins; on a tie the lower address (the earlier host). VRRPv3: the
        highest priority (lowest advskew) wins; on a tie the higher address (the later host)."""
        best = min(self.advskews)
        if self.vrrp3:
            return self.names[len(self.advskews) - 1 - self.advskews[::-1].index(best)]
        return self.names[self.advskews.index(best)]

    @property
    def settle_time(self) -> float:
        """Enough for a healed segment to elect one master: slowest master-down + 3 intervals."""
        slowest = max(self.advskews)
        return master_down_interval(
            self.advbase, slowest, self.dead_ratio
        ) + 3 * advertisement_interval(self.advbase, slowest)


Script = Callable[[Simulator, Params], None]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Scenario:
    name: str
    description: str
    script: Script
    min_hosts: int = 2
    default_hosts: int = 3
    default_duration: float = 30.0  # in script units (see Params.unit)
    min_duration: float = 10.0  # in script units: the last scripted event must happen
    default_loss: float = 0.0
    default_preempt: bool = False
    absolute_duration: bool = False  # default_duration is in seconds, not units


def default_advskews(hosts: int) -> tuple[int, ...]:
    """0, 100, 200 for three hosts; evenly spread within 0..254 for more."""
    if hosts == 1:
        return (0,)
    step = min(100, MAX_CONFIG_ADVSKEW // (hosts - 1))
    return tuple(i * step for i in range(hosts))


# -- building blocks -----------------------------------------------------------------------------


def add_hosts(sim: Simulator, params: Params, *, second_vhid: bool = False) -> None:
    """The scenario's hosts; with ``second_vhid`` each also runs vhid 2 with advskews reversed."""
    boot = stream(params.seed, "boot")
    reversed_skews = params.advskews[::-1]
    for index, name in enumerate(params.names):
        groups = [_group(params, 1, params.advskews[index])]
        if second_vhid:
            groups.append(_group(params, 2, reversed_skews[index]))
        sim.add_router(
            name, groups, link=_link(params), start_at=round(boot.uniform(0, BOOT_SPREAD), 6)
        )


def vrrp_priority(advskew: int) -> int:
    """The VRRPv3 priority a host of the scenario gets: the lower its advskew, the higher."""
    return max(1, 254 - advskew)


def _group(
    params: Params, vhid: int, advskew: int, passphrase: bytes = DEFAULT_PASSPHRASE
) -> GroupSettings:
    if params.vrrp3:
        return vrrp_group(
            vhid,
            priority=vrrp_priority(advskew),
            interval_cs=params.advbase * 100,
            preempt=params.preempt,
        )
    return group(
        vhid,
        advbase=params.advbase,
        advskew=advskew,
        preempt=params.preempt,
        dead_ratio=params.dead_ratio,
        passphrase=passphrase,
    )


def _link(params: Params) -> Link:
    return Link(loss_in=params.loss, delay=params.delay, jitter=params.jitter)


# -- the scripts ---------------------------------------------------------------------------------


def _failover(sim: Simulator, params: Params) -> None:
    add_hosts(sim, params)
    sim.schedule(10 * params.unit, fl.Crash(router=params.expected_master))


def _preempt(sim: Simulator, params: Params) -> None:
    add_hosts(sim, params)
    sim.schedule(10 * params.unit, fl.Crash(router=params.expected_master))
    sim.schedule(20 * params.unit, fl.Restart(router=params.expected_master))


def _split_brain(sim: Simulator, params: Params) -> None:
    add_hosts(sim, params)
    master = params.expected_master
    others = tuple(name for name in params.names if name != master)
    sim.schedule(10 * params.unit, fl.Partition(groups=((master,), others)))
    sim.schedule(20 * params.unit, fl.Heal())


def _bow_out(sim: Simulator, params: Params) -> None:
    add_hosts(sim, params)
    sim.schedule(10.5 * params.unit, fl.Stop(router=params.expected_master))


def _wrong_pass(sim: Simulator, params: Params) -> None:
    add_hosts(sim, params)
    sim.add_router(
        INTRUDER,
        [_group(params, 1, 0, passphrase=WRONG_PASSPHRASE)],
        link=_link(params),
        start_at=5 * params.unit,
    )


def _lossy(sim: Simulator, params: Params) -> None:
    add_hosts(sim, params)


def _load_spread(sim: Simulator, params: Params) -> None:
    add_hosts(sim, params, second_vhid=True)
    sim.schedule(10 * params.unit, fl.Crash(router=params.expected_master))


def _random(sim: Simulator, params: Params) -> None:
    add_hosts(sim, params)
    plan = random_faults(
        stream(params.seed, "faults"),
        params.names,
        start=5 * params.unit,
        repair_at=params.duration - params.settle_time,
        mean_gap=8 * params.unit,
        baseline_loss=params.loss,
    )
    for when, fault in plan:
        sim.schedule(when, fault)


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            name="failover",
            description="the master (lowest advskew) crashes at t=10: a backup takes over",
            script=_failover,
        ),
        Scenario(
            name="preempt",
            description="the master crashes at t=10 and returns at t=20: it takes the group "
            "back only with --preempt",
            script=_preempt,
            default_duration=40.0,
            min_duration=20.0,
        ),
        Scenario(
            name="split-brain",
            description="the master is cut off at t=10 (both sides elect a master), "
            "the segment heals at t=20",
            script=_split_brain,
            min_duration=20.0,
        ),
        Scenario(
            name="bow-out",
            description="the master is stopped gracefully at t=10.5: its bow-out advert hands "
            "over at once",
            script=_bow_out,
            default_duration=20.0,
            min_duration=11.0,
        ),
        Scenario(
            name="wrong-pass",
            description="an intruder with the wrong passphrase joins at t=5: the group drops "
            "its adverts (bad_auth) and is unaffected; the intruder, hearing nobody, claims the "
            "address for itself",
            script=_wrong_pass,
            min_hosts=1,
            min_duration=5.0,
        ),
        Scenario(
            name="lossy",
            description="20 % inbound loss on every link for an hour: false takeovers happen "
            "(3 lost adverts in a row) and are undone by the next advert heard",
            script=_lossy,
            default_duration=3600.0,
            min_duration=1.0,
            default_loss=0.2,
            absolute_duration=True,
        ),
        Scenario(
            name="load-spread",
            description="two vhids with opposite advskews (masters on different hosts); the "
            "master of vhid 1 crashes at t=10",
            script=_load_spread,
        ),
        Scenario(
            name="mixed-demote",
            description="hosts in turn FreeBSD (demotion in advskew, demote byte ignored), "
            "OpenBSD (demotion in the demote byte), pycarp advskew and pycarp byte; half start "
            "demoted, demotions change at random under 5 % loss until near the end: one master",
            script=mixed_demote,
            min_hosts=len(KINDS),
            default_hosts=2 * len(KINDS),
            default_duration=300.0,
            min_duration=60.0,
            default_loss=0.05,
        ),
        Scenario(
            name="random",
            description="random crashes, restarts, stops, link and partition faults and loss "
            "from the seed; everything is repaired near the end",
            script=_random,
            default_duration=300.0,
            min_duration=60.0,
        ),
    )
}


# -- options -> params -> run --------------------------------------------------------------------


def _check_int(option: str, value: int, low: float, high: float, why: str = "") -> None:
    allowed = Range(low, high)
    if not allowed.contains(value):
        raise OptionError(option, value, f"{allowed.allowed()}{why}")


def _check_setting(option: str, value: int, setting: str, why: str = "") -> None:
    """A protocol setting in the range GroupSettings allows (core/settings.py)."""
    allowed = SETTING_RANGES[setting]
    _check_int(option, value, allowed.low, allowed.high, why)


def _check_float(option: str, value: float, low: float, high: float, what: str) -> None:
    if not (math.isfinite(value) and low <= value <= high):
        raise OptionError(option, value, f"{what} from {low:g} to {high:g}")


def resolve(name: str, options: Options) -> Params:
    """Apply the scenario's defaults to ``options`` and validate; raises :class:`OptionError`."""
    if name not in SCENARIOS:
        raise OptionError("scenario", repr(name), "one of " + ", ".join(SCENARIOS))
    scenario = SCENARIOS[name]
    for_scenario = f" for scenario {name}"
    if options.hosts is not None:
        _check_int("--hosts", options.hosts, scenario.min_hosts, MAX_HOSTS, for_scenario)
    advskews = options.advskews
    if advskews is not None:
        for advskew in advskews:
            _check_setting("--advskew", advskew, "advskew", " for each host")
        if options.hosts is not None and len(advskews) != options.hosts:
            raise OptionError(
                "--advskew", ",".join(map(str, advskews)), f"one value per host: {options.hosts}"
            )
        _check_int(
            "--advskew", len(advskews), scenario.min_hosts, MAX_HOSTS, f" values{for_scenario}"
        )
    hosts = options.hosts if options.hosts is not None else len(advskews or ()) or 0
    hosts = hosts or scenario.default_hosts
    _check_setting("--advbase", options.advbase, "advbase")
    _check_setting("--dead-ratio", options.dead_ratio, "dead_ratio")
    loss = scenario.default_loss if options.loss is None else options.loss
    _check_float("--loss", loss, 0.0, 1.0, "a probability")
    _check_float("--delay", options.delay, 0.0, MAX_DELAY, "seconds")
    _check_float("--jitter", options.jitter, 0.0, MAX_DELAY, "seconds")
    if options.seed < 0:
        raise OptionError("--seed", options.seed, "an integer of 0 or more")
    if options.vrrp3 and name == "wrong-pass":
        raise OptionError("--vrrp3", name, "a scenario without passphrases: VRRPv3 has none")
    if options.vrrp3 and options.advbase > 40:
        raise OptionError("--advbase", options.advbase, "1 to 40 with --vrrp3 (40.95 s at most)")
    preempt_default = True if options.vrrp3 else scenario.default_preempt
    params = Params(
        scenario=name,
        hosts=hosts,
        advskews=advskews if advskews is not None else default_advskews(hosts),
        advbase=options.advbase,
        dead_ratio=options.dead_ratio,
        preempt=preempt_default if options.preempt is None else options.preempt,
        loss=loss,
        delay=options.delay,
        jitter=options.jitter,
        duration=0.0,
        seed=options.seed,
        vrrp3=options.vrrp3,
    )
    unit = params.unit
    shortest = scenario.min_duration * unit
    if name in ("random", "mixed-demote"):
        shortest = max(shortest, 2 * params.settle_time)
    if options.duration is None:
        duration = scenario.default_duration * (1.0 if scenario.absolute_duration else unit)
        duration = min(max(duration, shortest), MAX_DURATION)
    else:
        duration = options.duration
    _check_float("--duration", duration, shortest, MAX_DURATION, f"seconds{for_scenario}")
    return dataclasses.replace(params, duration=duration)


def build(params: Params, *, record_packets: bool = False) -> Simulator:
    """A simulator with the scenario's hosts and faults in place, at t=0."""
    sim = Simulator(seed=params.seed, record_packets=record_packets)
    SCENARIOS[params.scenario].script(sim, params)
    return sim


def run(params: Params, *, record_packets: bool = False) -> Simulator:
    """Build the scenario and run it to its end."""
    sim = build(params, record_packets=record_packets)
    sim.run_until(params.duration)
    return sim
