"""A host with the wrong passphrase on the real kernel: ignored by the group, counted as bad_auth.

The intruder has the group's vhid and addresses and the fastest timing (advskew 0, preempt), so
if its adverts were accepted it would take the group over at once. The real members must drop
every one of them (``bad_auth`` in their SIGUSR1 status dump grows) and change nothing. Like the
kernels, the intruder itself hears no valid advert and becomes master of a group of its own:
that is a configuration error the counters and the log line make visible, not something the
protocol can prevent.
"""

from __future__ import annotations

import pathlib
import time

from pycarp.lab import Lab
from pycarp.lab.capture import AdvertCapture

from .support import (
    ELECTION_TIMEOUT,
    VIPS,
    advert_interval,
    advert_times,
    changes_of,
    held_ips,
    ips,
    master_down,
    spacing_deviation,
    start_group,
    status_of,
    wait_for_stable_master,
    wait_for_state,
)


def test_a_host_with_the_wrong_passphrase_neither_takes_over_nor_disturbs_the_group(
    lab: Lab, tmp_path: pathlib.Path
) -> None:
    with AdvertCapture(lab, tmp_path / "adverts.pcap") as capture:
        group = start_group(lab, tmp_path, skews={"h1": 50, "h2": 100})
        wait_for_stable_master(group, "h1")
        intruder_started = time.time()
        intruder = start_group(
            lab,
            tmp_path,
            skews={"h3": 0},
            extra={"h3": ["--preempt"]},
            passphrase="not-the-secret",
        )["h3"]
        wait_for_state(intruder, "MASTER", timeout=ELECTION_TIMEOUT)  # of its own group
        first = {node: status_of(daemon)[1] for node, daemon in group.items()}
        time.sleep(2.5)
        second = {node: status_of(daemon)[1] for node, daemon in group.items()}
        adverts = capture.adverts()

    h1, h3 = str(lab.ipv4("h1").ip), str(lab.ipv4("h3").ip)
    intruder_adverts = advert_times(adverts, h3, 1)
    assert len(intruder_adverts) >= 3, "the intruder must actually have advertised"
    for node in ("h1", "h2"):
        bad = first[node].drops.get("bad_auth", 0), second[node].drops.get("bad_auth", 0)
        print(f"{node}: bad_auth {bad[0]} -> {bad[1]}")
        assert 0 < bad[0] < bad[1], f"{node}'s bad_auth counter does not grow"
        assert set(second[node].drops) == {"bad_auth"}
        assert "bad_auth" in group[node].log()
    assert second["h1"].drops["bad_auth"] <= len(intruder_adverts)
    assert (second["h1"].state, second["h2"].state) == ("MASTER", "BACKUP")
    assert changes_of(group["h1"]) == [
        ("INIT", "BACKUP", "started"),
        ("BACKUP", "MASTER", "master-down timer expired"),
    ]
    assert changes_of(group["h2"]) == [("INIT", "BACKUP", "started")]
    assert held_ips(lab, "h1") == ips(VIPS)
    assert held_ips(lab, "h2") == set()
    # The real master kept its rhythm while the intruder was advertising.
    during = advert_times(adverts, h1, 1, start=intruder_started)
    deviation = spacing_deviation(during, advert_interval(50))
    print(f"h1's advert spacing during the intrusion: max deviation {deviation * 1000:.1f} ms")
    assert deviation < 0.15
    # The intruder saw the group's adverts as bad_auth too, and only took its own group.
    assert "bad_auth" in intruder.log()
    assert held_ips(lab, "h3") == ips(VIPS)
    became = intruder_adverts[0] - intruder_started
    assert became >= master_down(0) - 0.05, "the intruder must not have cut its wait short"
