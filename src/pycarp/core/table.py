"""The per-vhid transition table, as data: every (state, input) pair, "ignore" included.

Each cell names the state the group is in afterwards (its *target*) and the :class:`Step` that
gets it there, so the table alone tells where every input leads; the steps only say how
(which adverts, hooks and address changes, in which order). Keeping it as a dict lets a test
enumerate every pair (and prove the unreachable ones unreachable), lets ``pycarp table`` print
it or draw it, and makes the behaviour reviewable in one screen instead of scattered across
``if`` statements. :class:`~pycarp.core.machine.GroupMachine` maps each event to an
:class:`Input` (guards such as "may we preempt?" are resolved there, into inputs of their own)
and then runs the cell.
"""

from __future__ import annotations

import enum
import typing


class State(enum.Enum):
    __hash__ = object.__hash__  # singletons: C identity hash (table lookups per packet)

    INIT = "INIT"
    BACKUP = "BACKUP"
    MASTER = "MASTER"


class Input(enum.Enum):
    __hash__ = object.__hash__  # singletons: C identity hash (table lookups per packet)

    STARTED = "started"  # the daemon started the group and the interface has carrier
    STARTED_NO_CARRIER = "started_no_carrier"  # ... and it has none: wait for it in INIT
    TIMER = "timer"
    LINK_UP = "link_up"  # carrier back on a group the daemon runs
    LINK_UP_STOPPED = "link_up_stopped"  # carrier back on a group stopped or disabled for good
    LINK_DOWN = "link_down"
    FORCE_MASTER = "force_master"
    FORCE_BACKUP = "force_backup"
    SHUTDOWN = "shutdown"
    DEMOTION = "demotion"  # host-wide demotion changed, or our send-error demotion did
    SEND_RESULT = "send_result"
    SEND_BROKEN = "send_broken"  # a send failed in a way that cannot recover (not transient)
    PACKET_INVALID = "packet_invalid"  # failed validation (TTL, checksum, digest, ...)
    ADV_FASTER = "adv_faster"  # valid advert, peer advertises strictly more often
    ADV_EQUAL_PEER_WINS = "adv_equal_peer_wins"
    ADV_EQUAL_WE_WIN = "adv_equal_we_win"
    ADV_SLOWER = "adv_slower"  # ... strictly less often, and we may not preempt it
    # ... strictly less often, and we may take over: preempt is on, or the master is only a
    # last resort (it advertises the demotion ceiling and we do not)
    ADV_SLOWER_PREEMPT = "adv_slower_preempt"
    ADV_DEPARTING = "adv_departing"  # peer's interval exceeds our master-down: bow-out
    STALLED = "stalled"  # our deadline is long overdue: the process was paused (SIGSTOP, VM)
    HAND_OVER = "hand_over"  # the operator asked a master to leave (maintenance, SIGUSR2)


class Step(enum.Enum):
    IGNORE = "ignore"
    UNREACHABLE = "unreachable"  # the machine never maps an event to this input in this state
    DROP = "drop"  # count and report the invalid packet, nothing else
    UPDATE_DEMOTION = "update_demotion"  # takes effect at the next advert / timer re-arm
    COUNT_SEND_RESULT = "count_send_result"
    START = "start"  # release stale addresses (and run the down hook); BACKUP if carrier
    JOIN = "join"  # carrier back: INIT -> BACKUP
    RESTART_MASTER_DOWN = "restart_master_down"
    BECOME_MASTER = "become_master"
    EXPEDITE = "expedite"  # the master is leaving: take over after our own skew only
    ADVERTISE = "advertise"
    STEP_DOWN = "step_down"  # MASTER -> BACKUP
    YIELD = "yield"  # a better master exists: one last advert (so it reasserts), then BACKUP
    REASSERT = "reassert"  # a slower master exists: advertise now and announce again
    LINK_LOST = "link_lost"  # -> INIT
    DISABLE = "disable"  # -> INIT until restarted: we cannot advertise, so must not hold addresses
    STOP = "stop"  # -> INIT for good; a master bows out first
    HAND_OVER = "hand_over"  # MASTER -> BACKUP with a bow-out advert: a backup takes over now


class Transition(typing.NamedTuple):
    """One cell: where the group ends up, and how it gets there."""

    target: State
    step: Step


INIT, BACKUP, MASTER = State.INIT, State.BACKUP, State.MASTER


def _stay(state: State, step: Step) -> Transition:
    return Transition(state, step)


# Rows every state shares: they never change the state.
_ANY_STATE_STEPS: dict[Input, Step] = {
    Input.DEMOTION: Step.UPDATE_DEMOTION,
    Input.SEND_RESULT: Step.COUNT_SEND_RESULT,
    Input.PACKET_INVALID: Step.DROP,
}

_ROWS: dict[State, dict[Input, Transition]] = {
    INIT: {
        Input.STARTED: Transition(BACKUP, Step.START),
        Input.STARTED_NO_CARRIER: _stay(INIT, Step.START),  # carrier will bring us to BACKUP
        Input.TIMER: _stay(INIT, Step.UNREACHABLE),  # INIT never has a deadline
        Input.LINK_UP: Transition(BACKUP, Step.JOIN),
        Input.LINK_UP_STOPPED: _stay(INIT, Step.IGNORE),
        Input.LINK_DOWN: _stay(INIT, Step.IGNORE),
        Input.FORCE_MASTER: _stay(INIT, Step.IGNORE),  # no carrier (or stopped): cannot serve
        Input.FORCE_BACKUP: _stay(INIT, Step.IGNORE),
        Input.SHUTDOWN: _stay(INIT, Step.STOP),
        Input.ADV_FASTER: _stay(INIT, Step.IGNORE),
        Input.ADV_EQUAL_PEER_WINS: _stay(INIT, Step.IGNORE),
        Input.ADV_EQUAL_WE_WIN: _stay(INIT, Step.IGNORE),
        Input.ADV_SLOWER: _stay(INIT, Step.IGNORE),
        Input.ADV_SLOWER_PREEMPT: _stay(INIT, Step.IGNORE),
        Input.ADV_DEPARTING: _stay(INIT, Step.IGNORE),
        Input.STALLED: _stay(INIT, Step.UNREACHABLE),  # a stall is a deadline long overdue
        Input.SEND_BROKEN: _stay(INIT, Step.IGNORE),  # a stopping group's bow-out: nothing to do
        Input.HAND_OVER: _stay(INIT, Step.IGNORE),
    },
    BACKUP: {
        Input.STARTED: _stay(BACKUP, Step.IGNORE),
        Input.STARTED_NO_CARRIER: _stay(BACKUP, Step.IGNORE),
        Input.TIMER: Transition(MASTER, Step.BECOME_MASTER),  # master-down timer fired
        Input.LINK_UP: _stay(BACKUP, Step.IGNORE),
        Input.LINK_UP_STOPPED: _stay(BACKUP, Step.UNREACHABLE),  # BACKUP is always running
        Input.LINK_DOWN: Transition(INIT, Step.LINK_LOST),
        Input.FORCE_MASTER: Transition(MASTER, Step.BECOME_MASTER),
        Input.FORCE_BACKUP: _stay(BACKUP, Step.RESTART_MASTER_DOWN),
        Input.SHUTDOWN: Transition(INIT, Step.STOP),
        Input.ADV_FASTER: _stay(BACKUP, Step.RESTART_MASTER_DOWN),
        Input.ADV_EQUAL_PEER_WINS: _stay(BACKUP, Step.RESTART_MASTER_DOWN),
        # Equal is never "strictly better".
        Input.ADV_EQUAL_WE_WIN: _stay(BACKUP, Step.RESTART_MASTER_DOWN),
        Input.ADV_SLOWER: _stay(BACKUP, Step.RESTART_MASTER_DOWN),
        Input.ADV_SLOWER_PREEMPT: Transition(MASTER, Step.BECOME_MASTER),
        # The kernels take over at once, so every backup claims the addresses and all but the
        # best step down again a moment later (clients briefly follow them). Waiting our own
        # advskew/256 s first lets the best backup speak first; the others hear it and stay.
        # (With advskew 0 the deadline is already due and the TIMER row runs in the same call.)
        Input.ADV_DEPARTING: _stay(BACKUP, Step.EXPEDITE),
        # Asleep past our own master-down: we know nothing about the last seconds, so listen
        # for a full master-down interval before taking over.
        Input.STALLED: _stay(BACKUP, Step.RESTART_MASTER_DOWN),
        # A yield's last advert failed for good: we could never be master.
        Input.SEND_BROKEN: Transition(INIT, Step.DISABLE),
        # Already not master; demotion keeps us behind the others.
        Input.HAND_OVER: _stay(BACKUP, Step.IGNORE),
    },
    MASTER: {
        Input.STARTED: _stay(MASTER, Step.IGNORE),
        Input.STARTED_NO_CARRIER: _stay(MASTER, Step.IGNORE),
        Input.TIMER: _stay(MASTER, Step.ADVERTISE),
        Input.LINK_UP: _stay(MASTER, Step.IGNORE),
        Input.LINK_UP_STOPPED: _stay(MASTER, Step.UNREACHABLE),  # MASTER is always running
        Input.LINK_DOWN: Transition(INIT, Step.LINK_LOST),
        Input.FORCE_MASTER: _stay(MASTER, Step.IGNORE),
        # FreeBSD steps down silently: the backups wait out their master-down interval, and
        # the best of them is often the one just forced (its timer is the shortest), so it
        # comes back after seconds without service. A bow-out hands over to the next one now.
        Input.FORCE_BACKUP: Transition(BACKUP, Step.HAND_OVER),
        Input.SHUTDOWN: Transition(INIT, Step.STOP),
        # Yield with a last advert, as ucarp does: the winner hears a slower master and
        # reasserts (announces), so clients that followed us are pointed back at it at once.
        Input.ADV_FASTER: Transition(BACKUP, Step.YIELD),
        Input.ADV_EQUAL_PEER_WINS: Transition(BACKUP, Step.YIELD),
        # Another master that should yield (a backup that missed our adverts, or the other side
        # of a healed partition): ucarp re-announces; pycarp also advertises at once, so the
        # other side steps down within one transit instead of one interval.
        Input.ADV_EQUAL_WE_WIN: _stay(MASTER, Step.REASSERT),
        Input.ADV_SLOWER: _stay(MASTER, Step.REASSERT),
        Input.ADV_SLOWER_PREEMPT: _stay(MASTER, Step.REASSERT),
        Input.ADV_DEPARTING: _stay(MASTER, Step.IGNORE),
        # Paused long enough for a backup to have taken over: step down rather than fight it
        # with a stale claim; if nobody took over, our master-down timer brings us back.
        Input.STALLED: Transition(BACKUP, Step.STEP_DOWN),
        # A master that cannot advertise would hold the addresses while a backup takes over.
        Input.SEND_BROKEN: Transition(INIT, Step.DISABLE),
        Input.HAND_OVER: Transition(BACKUP, Step.HAND_OVER),
    },
}

# Why a state changed, as one stable word per input (metrics labels, ``--events``): the reason
# text is for people and holds addresses and timings.
CAUSES: dict[Input, str] = {
    Input.STARTED: "start",
    Input.STARTED_NO_CARRIER: "start",
    Input.TIMER: "timer",
    Input.LINK_UP: "carrier_up",
    Input.LINK_UP_STOPPED: "carrier_up",
    Input.LINK_DOWN: "carrier_lost",
    Input.FORCE_MASTER: "forced",
    Input.FORCE_BACKUP: "forced",
    Input.SHUTDOWN: "shutdown",
    Input.DEMOTION: "demotion",
    Input.SEND_RESULT: "send_result",
    Input.SEND_BROKEN: "send_broken",
    Input.PACKET_INVALID: "invalid_packet",
    Input.ADV_FASTER: "better_master",
    Input.ADV_EQUAL_PEER_WINS: "better_master",
    Input.ADV_EQUAL_WE_WIN: "worse_master",
    Input.ADV_SLOWER: "worse_master",
    Input.ADV_SLOWER_PREEMPT: "preempt",
    Input.ADV_DEPARTING: "bow_out",
    Input.STALLED: "stalled",
    Input.HAND_OVER: "hand_over",
}

TRANSITIONS: dict[tuple[State, Input], Transition] = {
    (state, inp): cell
    for state, row in _ROWS.items()
    for inp, cell in (row | {i: _stay(state, s) for i, s in _ANY_STATE_STEPS.items()}).items()
}

UNREACHABLE: frozenset[tuple[State, Input]] = frozenset(
    pair for pair, cell in TRANSITIONS.items() if cell.step is Step.UNREACHABLE
)


def _cell_text(state: State, cell: Transition) -> str:
    if cell.target is state:
        return cell.step.value
    return f"{cell.step.value} -> {cell.target.value}"


Table = dict[tuple[State, Input], Transition]


def render(table: Table = TRANSITIONS) -> str:
    """The table as aligned text (``pycarp table``), one row per input.

    A cell is the step, followed by ``-> TARGET`` when the group ends up in another state.
    ``table``: CARP's, or VRRPv3's (:data:`pycarp.core.vrrp.VRRP_TRANSITIONS`).
    """
    states = list(State)
    width = max(len(i.value) for i in Input) + 2
    col = max(len(_cell_text(s, c)) for (s, _), c in table.items()) + 2
    lines = ["input".ljust(width) + "".join(s.value.ljust(col) for s in states)]
    for inp in Input:
        cells = "".join(_cell_text(s, table[(s, inp)]).ljust(col) for s in states)
        lines.append(inp.value.ljust(width) + cells)
    return "\n".join(line.rstrip() for line in lines)


_NOT_DRAWN = {Step.IGNORE, Step.UNREACHABLE}


def render_dot(table: Table = TRANSITIONS) -> str:
    """The table as a Graphviz digraph (``pycarp table --dot | dot -Tsvg``).

    One edge per (state, target, step), labelled with the inputs that take it; cells that do
    nothing (ignore, unreachable) are left out so the drawing shows only what moves.
    """
    edges: dict[tuple[State, State, Step], list[str]] = {}
    for (state, inp), cell in table.items():
        if cell.step not in _NOT_DRAWN:
            edges.setdefault((state, cell.target, cell.step), []).append(inp.value)
    lines = ["digraph carp {", "  rankdir=LR;", "  node [shape=box, style=rounded];"]
    lines += [f'  "{s.value}";' for s in State]
    for (state, target, step), inputs in edges.items():
        label = step.value + "\\n" + "\\n".join(inputs)
        lines.append(f'  "{state.value}" -> "{target.value}" [label="{label}"];')
    lines.append("}")
    return "\n".join(lines)
