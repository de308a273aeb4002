"""OpenBSD's demote byte on the real kernel: sent in pad1, read by a backup without preempt.

h1 (advskew 0) sends its demotion in the byte (``--demote-on-wire byte``, as OpenBSD does), h2
(advskew 100, preempt off) in advskew. Demoting h1 by 1 changes nothing in its timing on the
wire (advskew stays 0) but puts 1 in the byte: h2 reads it and takes over at once, without
preempt and without waiting for a master-down interval; h1 hears h2's byte 0 and steps down.
"""

from __future__ import annotations

import pathlib
import time

from pycarp.lab import Lab
from pycarp.lab.capture import AdvertCapture
from pycarp.lab.daemons import wait_for

from .support import VIPS, held_ips, ips, master_down, start_group, wait_for_stable_master

TAKEOVER_SLACK = 0.3  # one of h1's 1 s adverts carries the byte; the rest is a loaded machine


def test_a_backup_takes_over_from_a_master_demoted_in_the_byte(
    lab: Lab, tmp_path: pathlib.Path
) -> None:
    daemons = start_group(
        lab, tmp_path, skews={"h1": 0, "h2": 100}, extra={"h1": ["--demote-on-wire", "byte"]}
    )
    wait_for_stable_master(daemons, "h1")
    h1 = str(lab.ipv4("h1").ip)
    with AdvertCapture(lab, tmp_path / "adverts.pcap") as capture:
        done = daemons["h1"].control("demote", "+1")
        assert done.returncode == 0, done.stderr
        took = wait_for(lambda: daemons["h2"].status()["groups"][0]["state"] == "MASTER", 1.0 + 2.0)
        time.sleep(1.5)
        adverts = capture.adverts()
    print(f"demote byte: h2 took over {took * 1000:.0f} ms after the demotion")
    from_h1 = [a for a in adverts if a.source == h1 and a.advert.advbase != 255]
    assert from_h1, "h1 advertised after the demotion"
    assert (from_h1[0].advert.advskew, from_h1[0].advert.demote) == (0, 1)  # byte, not advskew
    assert took <= 1.0 + TAKEOVER_SLACK < master_down(100)
    h1_status = daemons["h1"].status()["groups"][0]
    h2_status = daemons["h2"].status()["groups"][0]
    assert (h1_status["state"], h2_status["state"]) == ("BACKUP", "MASTER")
    assert h2_status["reason"].startswith("the master is only a last resort: advert from")
    assert "demote 1" in h2_status["reason"]
    assert h1_status["master"]["demote"] == 0
    assert h1_status["demote_on_wire"] == "byte"
    assert held_ips(lab, "h2") == ips(VIPS)
    assert held_ips(lab, "h1") == set()
