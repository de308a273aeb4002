"""An hour on a lossy segment: what "no flapping" can and can not mean.

With i.i.d. loss ``p`` per packet per receiver, a backup times out when ``dead_ratio`` (3)
adverts in a row are lost *to it*: probability ``p**3`` = 0.8 % per interval at 20 % loss. So in
an hour each backup sees about ``N * (1 - p) * p**3`` = 23 runs of three or more losses, and the
kernels (FreeBSD, OpenBSD: same rules) take over on every one of them. What must hold instead:

* the rightful master never leaves MASTER (it ignores the usurper's slower adverts);
* every takeover is forced by the loss: the usurper heard nothing for its whole master-down
  interval, during which the master sent at least three adverts, all lost to it;
* every takeover is undone by the first advert of the master that reaches the usurper;
* the number of takeovers is what the loss model predicts;
* when the loss stops, one master remains: no *stable* wrong master.
"""

from __future__ import annotations

import bisect
import math

from sim_helpers import DELAY, changes, interval, md, segment

from pycarp.core.table import State
from pycarp.sim import faults as fl

ADVSKEWS = {"host1": 0, "host2": 100, "host3": 200}
HOUR = 3600.0
LOSS = 0.2
CONVERGED = md(0) + 2 * DELAY


def test_an_hour_without_loss_has_no_state_change_after_the_election() -> None:
    sim = segment(list(ADVSKEWS.values()))
    sim.run_until(HOUR)
    assert changes(sim, after=CONVERGED) == []
    assert sim.masters(1) == ["host1"]
    assert len(sim.advert_times("host1", 1)) == math.floor(HOUR - md(0)) + 1


def test_twenty_percent_loss_for_an_hour_only_brief_loss_forced_takeovers() -> None:
    sim = segment(list(ADVSKEWS.values()), loss=LOSS, seed=2024, record_packets=True)
    sim.run_until(HOUR)

    # the rightful master was elected once and never moved
    assert [(e.time, e.new) for e in changes(sim, router="host1")] == [(md(0), State.MASTER)]
    assert sim.masters(1) == ["host1"]
    assert sim.holders(1) == ["host1"]

    master_adverts = sim.advert_times("host1", 1)
    # the election ends when both backups have heard host1 once (its first adverts may be lost)
    elected = max(
        min(d.time for d in sim.deliveries if d.receiver == backup and d.sender == "host1")
        for backup in ("host2", "host3")
    )
    takeovers = [e for e in changes(sim, after=elected) if e.new is State.MASTER]
    assert takeovers, "20 % loss for an hour must produce some timeouts"
    for takeover in takeovers:
        usurper, when = takeover.router, takeover.time
        assert usurper != "host1"
        assert takeover.reason == "master-down timer expired"
        heard = sorted(d.time for d in sim.deliveries if d.receiver == usurper)
        # forced by loss: silence for its whole master-down interval ...
        silent_since = when - md(ADVSKEWS[usurper])
        previous = bisect.bisect_right(heard, when) - 1
        assert heard[previous] <= silent_since + 1e-9
        # ... while the master kept sending, at least three adverts, each lost to it
        sent = [t for t in master_adverts if silent_since < t < when]
        assert len(sent) >= 3
        lost = {
            loss.time for loss in sim.losses if loss.receiver == usurper and loss.sender == "host1"
        }
        assert all(t in lost for t in sent)
        # undone by the first advert of host1 that reaches the usurper, not later
        first_heard = min(
            d.time
            for d in sim.deliveries
            if d.receiver == usurper and d.sender == "host1" and d.time > when
        )
        step_down = next(e for e in changes(sim, after=when, router=usurper))
        assert step_down.new is State.BACKUP
        assert step_down.time == first_heard
        assert "faster" in step_down.reason

    # as many takeovers as i.i.d. loss predicts: runs of >= 3 losses, per backup
    n = len(master_adverts)
    expected = 2 * (n - 3) * (1 - LOSS) * LOSS**3  # ~46 for two backups
    assert abs(len(takeovers) - expected) <= 5 * math.sqrt(expected)

    # no stable wrong master: once the loss stops, one interval later only host1 remains
    sim.apply(fl.SetLoss(probability=0.0))
    sim.run_for(interval(0) + 2 * DELAY)
    assert sim.masters(1) == ["host1"]
    assert sim.holders(1) == ["host1"]
