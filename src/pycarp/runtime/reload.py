"""What a SIGHUP changes: which groups stop, start or restart, which options wait for a restart.

Pure, so the rule is tested without a daemon: a group whose configuration is unchanged keeps
running untouched (its state, its timer, its addresses); a changed one is stopped and started
again; the operating services (control socket, state directory, events, metrics, tracks) are
set up once, at start, so a change to them is reported rather than half applied.
"""

from __future__ import annotations

import dataclasses

from pycarp.config.model import DaemonConfig, GroupConfig

GroupKey = tuple[str, int]
RESTART_ONLY = ("control", "control_group", "state_dir", "events", "metrics", "tracks")


@dataclasses.dataclass(frozen=True, slots=True)
class ReloadPlan:
    removed: list[GroupKey]
    changed: list[GroupKey]
    added: list[GroupKey]
    untouched: int
    wanted: dict[GroupKey, GroupConfig]
    restart_only: list[str]  # options that changed but take effect at the next start

    def summary(self) -> str:
        return (
            f"{len(self.added)} added, {len(self.changed)} changed, {len(self.removed)} removed,"
            f" {self.untouched} untouched"
        )


def plan_reload(
    current: dict[GroupKey, GroupConfig], old: DaemonConfig, new: DaemonConfig
) -> ReloadPlan:
    wanted = {g.key: g for g in new.groups}
    removed = [k for k in current if k not in wanted]
    changed = [k for k in current if k in wanted and wanted[k] != current[k]]
    added = [k for k in wanted if k not in current]
    return ReloadPlan(
        removed=removed,
        changed=changed,
        added=added,
        untouched=len(current) - len(removed) - len(changed),
        wanted=wanted,
        restart_only=[n for n in RESTART_ONLY if getattr(new, n) != getattr(old, n)],
    )
