"""Random fault sequences against the real machines (hypothesis stateful testing).

After every step: each group's addresses are held exactly by its masters, and the simulator's
log agrees with the live machines. After waiting out the slowest master-down plus two intervals
with the faults in place, every connected set of running hosts has at least one master. After
repairing everything (heal, all hosts up, no loss) and waiting as long again, every vhid has
exactly one master.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from pycarp.core.events import ForcedState
from pycarp.core.settings import MAX_CONFIG_ADVSKEW
from pycarp.core.table import State
from pycarp.core.timing import advertisement_interval, master_down_interval
from pycarp.sim import Link, Simulator, group
from pycarp.sim import faults as fl

ADVSKEW_CHOICES = (0, 50, 100, 100, 200, MAX_CONFIG_ADVSKEW)  # 100 twice: ties are likely
VHIDS = (1, 2)


class SegmentUnderFaults(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.sim = Simulator()
        self.hosts: list[str] = []
        self.advbase = 1

    @initialize(
        advskews=st.lists(st.sampled_from(ADVSKEW_CHOICES), min_size=2, max_size=4),
        advbase=st.sampled_from([1, 1, 2]),
        preempt=st.booleans(),
        seed=st.integers(0, 2**32),
    )
    def build(self, advskews: list[int], advbase: int, preempt: bool, seed: int) -> None:
        self.sim = Simulator(seed=seed)
        self.advbase = advbase
        for index, advskew in enumerate(advskews):
            name = f"h{index + 1}"
            groups = [
                group(1, advbase=advbase, advskew=advskew, preempt=preempt),
                group(2, advbase=advbase, advskew=advskews[-1 - index], preempt=preempt),
            ]
            self.sim.add_router(name, groups, link=Link(delay=0.0005, jitter=0.0005))
            self.hosts.append(name)
        self.sim.run_until(0.0)

    # -- what the segment looks like ------------------------------------------------------------

    def _hosts(self, *, alive: bool | None = None, running: bool | None = None) -> list[str]:
        return [
            name
            for name, router in self.sim.routers.items()
            if (alive is None or router.alive is alive)
            and (running is None or router.running is running)
        ]

    def _carrier(self, name: str) -> bool:
        return self.sim.segment.links[name].carrier

    @property
    def _settle_time(self) -> float:
        """Slowest possible master-down (demotion pushes advskew up to 254/256) + 2 intervals."""
        worst = MAX_CONFIG_ADVSKEW
        return master_down_interval(self.advbase, worst) + 2 * advertisement_interval(
            self.advbase, worst
        )

    def _components(self) -> list[list[str]]:
        """Running hosts with carrier, grouped by who can hear whom."""
        up = [n for n in self._hosts(running=True) if self._carrier(n)]
        groups: list[list[str]] = []
        for name in up:
            for members in groups:
                if self.sim.segment.can_hear(members[0], name):
                    members.append(name)
                    break
            else:
                groups.append([name])
        return groups

    # -- faults ---------------------------------------------------------------------------------

    @precondition(lambda self: self._hosts(running=True))
    @rule(data=st.data())
    def crash(self, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(self._hosts(running=True)))
        self.sim.apply(fl.Crash(router=name))

    @precondition(lambda self: self._hosts(alive=False))
    @rule(data=st.data())
    def restart(self, data: st.DataObject) -> None:
        self.sim.apply(fl.Restart(router=data.draw(st.sampled_from(self._hosts(alive=False)))))

    @precondition(lambda self: self._hosts(running=True))
    @rule(data=st.data())
    def stop(self, data: st.DataObject) -> None:
        self.sim.apply(fl.Stop(router=data.draw(st.sampled_from(self._hosts(running=True)))))

    @precondition(lambda self: self._hosts(alive=True, running=False))
    @rule(data=st.data())
    def start(self, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(self._hosts(alive=True, running=False)))
        self.sim.apply(fl.Start(router=name))

    @rule(data=st.data())
    def flip_link(self, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(self.hosts))
        fault = fl.LinkUp if not self._carrier(name) else fl.LinkDown
        self.sim.apply(fault(router=name))

    @rule(data=st.data())
    def partition(self, data: st.DataObject) -> None:
        side = data.draw(st.sets(st.sampled_from(self.hosts), min_size=1))
        rest = tuple(h for h in self.hosts if h not in side)
        self.sim.apply(fl.Partition(groups=(tuple(sorted(side)), rest)))

    @rule()
    def heal(self) -> None:
        self.sim.apply(fl.Heal())

    @rule(probability=st.sampled_from([0.0, 0.1, 0.3, 0.6]))
    def loss(self, probability: float) -> None:
        self.sim.apply(fl.SetLoss(probability=probability))

    @precondition(lambda self: self._hosts(running=True))
    @rule(data=st.data(), state=st.sampled_from(ForcedState), vhid=st.sampled_from(VHIDS))
    def force(self, data: st.DataObject, state: ForcedState, vhid: int) -> None:
        name = data.draw(st.sampled_from(self._hosts(running=True)))
        self.sim.apply(fl.Force(router=name, state=state, vhid=vhid))

    @rule(data=st.data(), demotion=st.sampled_from([0, 50, 240]))
    def demote(self, data: st.DataObject, demotion: int) -> None:
        name = data.draw(st.sampled_from(self.hosts))
        self.sim.apply(fl.SetDemotion(router=name, demotion=demotion))

    @precondition(lambda self: self._hosts(running=True))
    @rule(data=st.data(), on=st.booleans())
    def maintenance(self, data: st.DataObject, on: bool) -> None:
        name = data.draw(st.sampled_from(self._hosts(running=True)))
        self.sim.apply(fl.Maintenance(router=name, on=on))

    @precondition(lambda self: self._hosts(running=True))
    @rule(data=st.data())
    def hand_over(self, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(self._hosts(running=True)))
        self.sim.apply(fl.HandOver(router=name))

    @precondition(lambda self: self._hosts(running=True))
    @rule(
        data=st.data(),
        mode=st.sampled_from(["+", "-", "="]),
        amount=st.sampled_from([0, 50, 240, 1000]),
        vhid=st.sampled_from([None, *VHIDS]),
    )
    def operator_demote(
        self, data: st.DataObject, mode: str, amount: int, vhid: int | None
    ) -> None:
        name = data.draw(st.sampled_from(self._hosts(running=True)))
        self.sim.apply(fl.Demote(router=name, mode=mode, amount=amount, vhid=vhid))

    @rule(data=st.data(), failing=st.booleans())
    def send_errors(self, data: st.DataObject, failing: bool) -> None:
        name = data.draw(st.sampled_from(self.hosts))
        self.sim.apply(fl.SendErrors(router=name, failing=failing))

    @rule(seconds=st.floats(0.0, 6.0, allow_nan=False))
    def wait(self, seconds: float) -> None:
        self.sim.run_for(seconds)

    # -- the checks -----------------------------------------------------------------------------

    @rule()
    def wait_then_every_connected_side_has_a_master(self) -> None:
        self.sim.run_for(self._settle_time)
        for members in self._components():
            for vhid in VHIDS:
                masters = [m for m in self.sim.masters(vhid) if m in members]
                assert masters, f"no master of vhid {vhid} among {members} at t={self.sim.now}"

    @rule()
    def repair_then_exactly_one_master(self) -> None:
        sim = self.sim
        for name in self._hosts(alive=False):
            sim.apply(fl.Restart(router=name))
        for name in self._hosts(alive=True, running=False):
            sim.apply(fl.Start(router=name))
        for name in self.hosts:
            if not self._carrier(name):
                sim.apply(fl.LinkUp(router=name))
            sim.apply(fl.SendErrors(router=name, failing=False))
        sim.apply(fl.Heal())
        sim.apply(fl.SetLoss(probability=0.0))
        sim.run_for(self._settle_time)
        for vhid in VHIDS:
            masters = sim.masters(vhid)
            assert len(masters) == 1, f"vhid {vhid}: masters {masters} at t={sim.now}"
            assert sim.holders(vhid) == masters

    @invariant()
    def addresses_are_held_by_exactly_the_masters(self) -> None:
        for vhid in VHIDS:
            assert self.sim.holders(vhid) == self.sim.masters(vhid)

    @invariant()
    def the_log_agrees_with_the_live_machines(self) -> None:
        for vhid in VHIDS:
            assert self.sim.masters(vhid, at=self.sim.now) == self.sim.masters(vhid)
            for name in self.hosts:
                machine = self.sim.machine(name, vhid)
                if machine is None:
                    assert not self.sim.routers[name].running
                elif not self._carrier(name):
                    assert machine.state is State.INIT


def test_random_fault_sequences_keep_the_invariants() -> None:
    run_state_machine_as_test(
        SegmentUnderFaults,
        settings=settings(
            max_examples=200,
            stateful_step_count=40,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
