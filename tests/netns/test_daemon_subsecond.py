"""Sub-second CARP on the real kernel: two pycarp daemons at advbase 0 (OpenBSD's timing).

h1 advertises every 25/256 s (98 ms), h2 every 50/256 s (195 ms) when master. After a kill -9
of h1, h2 must take over 3 of its own intervals (586 ms) after h1's last advert, plus the
daemon's timer slack (a few ms), measured on the bridge. The backup never flaps meanwhile.
"""

from __future__ import annotations

import pathlib
import time

import pytest

from pycarp.core.timing import advertisement_interval, master_down_interval
from pycarp.lab import Lab
from pycarp.lab.capture import AdvertCapture, failover_gap

from .support import (
    VIPS,
    advert_times,
    changes_of,
    held_ips,
    ips,
    masters,
    ping,
    start_group,
    state_of,
    wait_for_stable_master,
    wait_for_state,
)

SKEWS = {"h1": 25, "h2": 50}
SUB_SECOND = ["-b", "0"]  # after pycarp_args' "-b 1": the last one counts
GAP_SLACK = 0.03  # the daemon's timer lands a few ms late; a loaded 2-core machine adds more


def test_two_daemons_at_advbase_zero_fail_over_within_three_intervals(
    lab: Lab, tmp_path: pathlib.Path
) -> None:
    with AdvertCapture(lab, tmp_path / "adverts.pcap") as capture:
        daemons = start_group(lab, tmp_path, skews=SKEWS, extra=dict.fromkeys(SKEWS, SUB_SECOND))
        wait_for_stable_master(daemons, "h1", timeout=5.0)
        time.sleep(2.0)  # ~20 adverts from h1
        assert ping(lab, "client", VIPS[0])
        killed_at = time.time()
        daemons["h1"].kill()
        took = wait_for_state(daemons["h2"], "MASTER", timeout=3.0)
        time.sleep(0.5)
        adverts = capture.adverts()

    h1, h2 = str(lab.ipv4("h1").ip), str(lab.ipv4("h2").ip)
    steady = advert_times(adverts, h1, 1, end=killed_at)[-15:]
    spacing = (steady[-1] - steady[0]) / (len(steady) - 1)
    interval = advertisement_interval(0, SKEWS["h1"])
    print(f"advbase 0: h1 advertised every {spacing * 1000:.1f} ms ({interval * 1000:.1f} set)")
    assert interval - 0.002 <= spacing <= interval + 0.01
    assert all(a.advert.advbase == 0 for a in adverts if a.source in (h1, h2))

    gap = failover_gap(adverts, h1, h2, vhid=1, after=killed_at - 0.3)
    limit = master_down_interval(0, SKEWS["h2"])
    print(f"advbase 0: failover gap {gap * 1000:.1f} ms (3 x 195.3 = {limit * 1000:.1f} ms)")
    print(f"advbase 0: h2 logged MASTER {took * 1000:.0f} ms after the kill")
    assert limit - 0.005 <= gap <= limit + GAP_SLACK
    assert changes_of(daemons["h2"]) == [
        ("INIT", "BACKUP", "started"),
        ("BACKUP", "MASTER", "master-down timer expired"),
    ]
    assert masters(daemons) == ["h1", "h2"]  # h1 died as master, without a word
    assert state_of(daemons["h2"]) == "MASTER"
    assert held_ips(lab, "h2") == ips(VIPS)
    assert ping(lab, "client", VIPS[0])


@pytest.mark.parametrize("skew", [0])
def test_advbase_zero_advskew_zero_advertises_every_256th_of_a_second(
    lab: Lab, tmp_path: pathlib.Path, skew: int
) -> None:
    """OpenBSD's floor: advbase 0 with advskew 0 advertises every 1/256 s, not in a busy loop."""
    with AdvertCapture(lab, tmp_path / "adverts.pcap") as capture:
        daemons = start_group(lab, tmp_path, skews={"h1": skew}, extra={"h1": SUB_SECOND})
        wait_for_state(daemons["h1"], "MASTER", timeout=3.0)
        time.sleep(1.0)
        adverts = capture.adverts()
    h1 = str(lab.ipv4("h1").ip)
    times = advert_times(adverts, h1, 1)
    rate = (len(times) - 1) / (times[-1] - times[0])
    print(f"advbase 0 advskew 0: {rate:.0f} adverts/s (256 set)")
    # 256/s set; each advert is armed from "now", so the ~1 ms it takes on a loaded machine is
    # lost every 3.9 ms (issue 9 item 5 arms from the deadline). A busy loop would be >1000/s.
    assert 150 <= rate <= 260
