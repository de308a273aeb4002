"""Random fault sequences from a seed, always ending with everything repaired.

The generator keeps track of what is broken so that every fault it emits makes sense at that
moment (no restart of a running host), and at ``repair_at`` it undoes everything still broken,
so the run's end shows whether the group converged again.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Sequence

from pycarp.sim import faults as fl

LOSS_CHOICES = (0.1, 0.2, 0.3, 0.5)


@dataclasses.dataclass(slots=True)
class _World:
    """What the generator believes the segment looks like after the faults so far."""

    hosts: Sequence[str]
    baseline_loss: float
    crashed: set[str] = dataclasses.field(default_factory=set)
    stopped: set[str] = dataclasses.field(default_factory=set)
    unplugged: set[str] = dataclasses.field(default_factory=set)
    partitioned: bool = False
    lossy: bool = False

    def candidates(self, rng: random.Random) -> list[Callable[[], fl.Fault]]:
        up = [h for h in self.hosts if h not in self.crashed]
        running = [h for h in up if h not in self.stopped]
        plugged = [h for h in self.hosts if h not in self.unplugged]
        options: list[Callable[[], fl.Fault]] = []
        if running:
            options.append(lambda: fl.Crash(router=rng.choice(running)))
            options.append(lambda: fl.Stop(router=rng.choice(running)))
        if self.crashed:
            options.append(lambda: fl.Restart(router=rng.choice(sorted(self.crashed))))
        if self.stopped:
            options.append(lambda: fl.Start(router=rng.choice(sorted(self.stopped))))
        if plugged:
            options.append(lambda: fl.LinkDown(router=rng.choice(plugged)))
        if self.unplugged:
            options.append(lambda: fl.LinkUp(router=rng.choice(sorted(self.unplugged))))
        if len(self.hosts) > 1:
            options.append(fl.Heal if self.partitioned else (lambda: self._random_split(rng)))
        options.append(
            (lambda: fl.SetLoss(probability=self.baseline_loss))
            if self.lossy
            else (lambda: fl.SetLoss(probability=rng.choice(LOSS_CHOICES)))
        )
        return options

    def _random_split(self, rng: random.Random) -> fl.Partition:
        shuffled = list(self.hosts)
        rng.shuffle(shuffled)
        cut = rng.randint(1, len(shuffled) - 1)
        return fl.Partition(groups=(tuple(sorted(shuffled[:cut])), tuple(sorted(shuffled[cut:]))))

    def note(self, fault: fl.Fault) -> None:
        match fault:
            case fl.Crash(router=host):
                self.crashed.add(host)
                self.stopped.discard(host)  # a restart starts the daemon too
            case fl.Restart(router=host):
                self.crashed.discard(host)
            case fl.Stop(router=host):
                self.stopped.add(host)
            case fl.Start(router=host):
                self.stopped.discard(host)
            case fl.LinkDown(router=host):
                self.unplugged.add(host)
            case fl.LinkUp(router=host):
                self.unplugged.discard(host)
            case fl.Partition():
                self.partitioned = True
            case fl.Heal():
                self.partitioned = False
            case fl.SetLoss(probability=p):
                self.lossy = p != self.baseline_loss

    def repairs(self) -> list[fl.Fault]:
        fixes: list[fl.Fault] = [fl.Restart(router=h) for h in sorted(self.crashed)]
        fixes += [fl.Start(router=h) for h in sorted(self.stopped)]
        fixes += [fl.LinkUp(router=h) for h in sorted(self.unplugged)]
        if self.partitioned:
            fixes.append(fl.Heal())
        if self.lossy:
            fixes.append(fl.SetLoss(probability=self.baseline_loss))
        return fixes


def random_faults(
    rng: random.Random,
    hosts: Sequence[str],
    *,
    start: float,
    repair_at: float,
    mean_gap: float,
    baseline_loss: float = 0.0,
) -> list[tuple[float, fl.Fault]]:
    """Faults at exponentially spaced times in ``[start, repair_at)``, then the repairs."""
    world = _World(hosts=hosts, baseline_loss=baseline_loss)
    plan: list[tuple[float, fl.Fault]] = []
    when = start + rng.expovariate(1.0 / mean_gap)
    while when < repair_at:
        fault = rng.choice(world.candidates(rng))()
        world.note(fault)
        plan.append((round(when, 6), fault))
        when += rng.expovariate(1.0 / mean_gap)
    plan += [(repair_at, fix) for fix in world.repairs()]
    return plan
