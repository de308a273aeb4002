"""The per-vhid transition table, as data: every (state, input) pair, "ignore" included.

Keeping it as a dict lets a test enumerate every pair, lets ``pycarp`` print it, and makes the
behaviour reviewable in one screen instead of scattered across ``if`` statements. The
:class:`~pycarp.core.machine.GroupMachine` maps each event to an :class:`Input` and then runs
the :class:`Step` the table names.
"""

from __future__ import annotations

import enum

from pycarp.core.actions import State


class Input(enum.Enum):
    __hash__ = object.__hash__  # singletons: C identity hash (table lookups per packet)

    STARTED = "started"
    TIMER = "timer"
    LINK_UP = "link_up"
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
    ADV_SLOWER = "adv_slower"
    ADV_DEPARTING = "adv_departing"  # peer's interval exceeds our master-down: bow-out
    STALLED = "stalled"  # our deadline is long overdue: the process was paused (SIGSTOP, VM)
    HAND_OVER = "hand_over"  # the operator asked a master to leave (maintenance, SIGUSR2)


class Step(enum.Enum):
    IGNORE = "ignore"
    DROP = "drop"  # count and report the invalid packet, nothing else
    UPDATE_DEMOTION = "update_demotion"  # takes effect at the next advert / timer re-arm
    COUNT_SEND_RESULT = "count_send_result"
    START = "start"  # INIT -> BACKUP (or wait for carrier); release stale addresses
    JOIN = "join"  # carrier back: INIT -> BACKUP if the daemon started us
    RESTART_MASTER_DOWN = "restart_master_down"
    PREEMPT_OR_RESTART = "preempt_or_restart"  # master now if preempt is on, else wait
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


_ANY_STATE_ROWS: dict[Input, Step] = {
    Input.DEMOTION: Step.UPDATE_DEMOTION,
    Input.SEND_RESULT: Step.COUNT_SEND_RESULT,
    Input.PACKET_INVALID: Step.DROP,
}

_ROWS: dict[State, dict[Input, Step]] = {
    State.INIT: {
        Input.STARTED: Step.START,
        Input.TIMER: Step.IGNORE,
        Input.LINK_UP: Step.JOIN,
        Input.LINK_DOWN: Step.IGNORE,
        Input.FORCE_MASTER: Step.IGNORE,  # no carrier (or stopped): cannot serve the addresses
        Input.FORCE_BACKUP: Step.IGNORE,
        Input.SHUTDOWN: Step.STOP,
        Input.ADV_FASTER: Step.IGNORE,
        Input.ADV_EQUAL_PEER_WINS: Step.IGNORE,
        Input.ADV_EQUAL_WE_WIN: Step.IGNORE,
        Input.ADV_SLOWER: Step.IGNORE,
        Input.ADV_DEPARTING: Step.IGNORE,
        Input.STALLED: Step.IGNORE,
        Input.SEND_BROKEN: Step.IGNORE,  # the bow-out of a stopping group: nothing more to do
        Input.HAND_OVER: Step.IGNORE,
    },
    State.BACKUP: {
        Input.STARTED: Step.IGNORE,
        Input.TIMER: Step.BECOME_MASTER,  # master-down timer fired
        Input.LINK_UP: Step.IGNORE,
        Input.LINK_DOWN: Step.LINK_LOST,
        Input.FORCE_MASTER: Step.BECOME_MASTER,
        Input.FORCE_BACKUP: Step.RESTART_MASTER_DOWN,
        Input.SHUTDOWN: Step.STOP,
        Input.ADV_FASTER: Step.RESTART_MASTER_DOWN,
        Input.ADV_EQUAL_PEER_WINS: Step.RESTART_MASTER_DOWN,
        Input.ADV_EQUAL_WE_WIN: Step.RESTART_MASTER_DOWN,  # equal is never "strictly better"
        Input.ADV_SLOWER: Step.PREEMPT_OR_RESTART,
        # The kernels take over at once, so every backup claims the addresses and all but the
        # best step down again a moment later (clients briefly follow them). Waiting our own
        # advskew/256 s first lets the best backup speak first; the others hear it and stay.
        Input.ADV_DEPARTING: Step.EXPEDITE,
        # Asleep past our own master-down: we know nothing about the last seconds, so listen
        # for a full master-down interval before taking over.
        Input.STALLED: Step.RESTART_MASTER_DOWN,
        Input.SEND_BROKEN: Step.DISABLE,  # a yield's last advert: we could never be master
        Input.HAND_OVER: Step.IGNORE,  # already not master; demotion keeps us behind the others
    },
    State.MASTER: {
        Input.STARTED: Step.IGNORE,
        Input.TIMER: Step.ADVERTISE,
        Input.LINK_UP: Step.IGNORE,
        Input.LINK_DOWN: Step.LINK_LOST,
        Input.FORCE_MASTER: Step.IGNORE,
        # FreeBSD steps down silently: the backups wait out their master-down interval, and
        # the best of them is often the one just forced (its timer is the shortest), so it
        # comes back after seconds without service. A bow-out hands over to the next one now.
        Input.FORCE_BACKUP: Step.HAND_OVER,
        Input.SHUTDOWN: Step.STOP,
        # Yield with a last advert, as ucarp does: the winner hears a slower master and
        # reasserts (announces), so clients that followed us are pointed back at it at once.
        Input.ADV_FASTER: Step.YIELD,
        Input.ADV_EQUAL_PEER_WINS: Step.YIELD,
        # Another master that should yield (a backup that missed our adverts, or the other side
        # of a healed partition): ucarp re-announces; pycarp also advertises at once, so the
        # other side steps down within one transit instead of one interval.
        Input.ADV_EQUAL_WE_WIN: Step.REASSERT,
        Input.ADV_SLOWER: Step.REASSERT,
        Input.ADV_DEPARTING: Step.IGNORE,
        # Paused long enough for a backup to have taken over: step down rather than fight it
        # with a stale claim; if nobody took over, our master-down timer brings us back.
        Input.STALLED: Step.STEP_DOWN,
        # A master that cannot advertise would hold the addresses while a backup takes over.
        Input.SEND_BROKEN: Step.DISABLE,
        Input.HAND_OVER: Step.HAND_OVER,
    },
}

# Why a state changed, as one stable word per input (metrics labels, ``--events``): the reason
# text is for people and holds addresses and timings.
CAUSES: dict[Input, str] = {
    Input.STARTED: "start",
    Input.TIMER: "timer",
    Input.LINK_UP: "carrier_up",
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
    Input.ADV_SLOWER: "preempt",
    Input.ADV_DEPARTING: "bow_out",
    Input.STALLED: "stalled",
    Input.HAND_OVER: "hand_over",
}

TRANSITIONS: dict[tuple[State, Input], Step] = {
    (state, inp): step
    for state, row in _ROWS.items()
    for inp, step in (row | _ANY_STATE_ROWS).items()
}


def render() -> str:
    """The table as aligned text (``pycarp table``), one row per input."""
    states = list(State)
    width = max(len(i.value) for i in Input) + 2
    col = max(len(s.value) for s in Step) + 2
    lines = ["input".ljust(width) + "".join(s.value.ljust(col) for s in states)]
    for inp in Input:
        cells = "".join(TRANSITIONS[(s, inp)].value.ljust(col) for s in states)
        lines.append(inp.value.ljust(width) + cells)
    return "\n".join(line.rstrip() for line in lines)
