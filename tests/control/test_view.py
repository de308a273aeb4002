"""The human status view, rendered from the fixture document at a fixed time (UTC)."""

from __future__ import annotations

import copy

import pytest

from pycarp.control.view import ViewError, render

from .support import SINCE, STATUS

EXPECTED = """\
pycarp pycarp (pid 4242, up 2h03m): maintenance off, operator demotion +0, 2 groups
  eth0: carrier up; drops bad_vhid 3
  eth1: CARRIER DOWN; drops none

1@eth0  MASTER since 11:53:20 (42s ago): master-down timer expired
  addresses  198.51.100.100/24, 2001:db8::100/64
  timing     advbase 1 advskew 0 configured, advskew 0 on the wire; preempt on
  demotion   0
  master     198.51.100.1 (us), advertising advbase 1 advskew 0
  why        we advertise every 1.00 s and nobody faster is heard
  adverts    sent 7380, received 2, send errors 0
  drops      bad_hmac 4
  hooks      runs 1, failures 0, timeouts 0

2@eth1  BACKUP since 11:46:40 (7m22s ago): carrier lost on eth1
  addresses  198.51.100.101/24
  timing     advbase 1 advskew 100 configured, advskew 240 on the wire; preempt off
  demotion   250 (carrier +240, group_operator +10)
  master     198.51.100.2, advertising advbase 1 advskew 0
  why        198.51.100.2 advertises every 1.00 s, faster than our 1.39 s; preempt off
  adverts    sent 12, received 7000, send errors 3
  drops      none
  hooks      runs 2, failures 1, timeouts 0

track web  DOWN since 11:53:50 (12s ago): fault, demotion 240 on 1@eth0, 2@eth1
  check      script /usr/bin/curl -fsS http://127.0.0.1/ every 0.5s (timeout 0.4s), fall 2, rise 3
  last       failed: exited with status 22 (7 times in a row)
  checks     failed 7, ok 118, timed_out 1
  output     curl: (22) The requested URL returned error: 503

track uplink  up since start: weight 50, demotion 0 on (none running)
  check      interface eth2 every 1s, fall 2, rise 2
  last       not checked yet
  checks     none"""


def test_the_whole_view() -> None:
    assert render(STATUS, SINCE + 42.9, local=False) == EXPECTED


def test_a_document_without_tracks_is_an_older_daemon_of_the_same_schema() -> None:
    document = copy.deepcopy(STATUS)
    del document["tracks"]
    assert render(document, SINCE + 42.9, local=False) == EXPECTED.partition("\n\ntrack web")[0]


def test_an_init_group_in_maintenance_with_no_master() -> None:
    document = copy.deepcopy(STATUS)
    document["maintenance"] = True
    document["demotion"]["operator"] = -20
    group = document["groups"][0]
    group.update(state="INIT", master=None, maintenance=True, addresses=[])
    group["demotion_sources"].update(maintenance=240, operator=-20)
    text = render(document, SINCE + 3 * 86400 + 7200, local=False)
    assert "maintenance on, operator demotion -20" in text
    assert (
        "1@eth0  INIT since 2025-12-01 11:53:20 (3d02h ago): "
        "master-down timer expired  [maintenance]" in text
    )
    assert "  master     none heard" in text
    assert "  addresses  (none)" in text
    assert "(maintenance +240, operator -20)" in text


def test_a_carrier_that_is_ignored() -> None:
    document = copy.deepcopy(STATUS)
    document["interfaces"][0]["carrier"] = None
    assert "  eth0: carrier ignored; drops bad_vhid 3" in render(document, SINCE, local=False)


def test_a_clock_behind_the_state_change_never_shows_negative_ages() -> None:
    assert "(0s ago)" in render(STATUS, SINCE - 10, local=False)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"v": 2}, "status document version 2, expected 1"),
        ({"groups": [{"group": "1@eth0"}]}, "status document is malformed (KeyError: "),
        (
            {"interfaces": [{"interface": "eth0", "carrier": "yes", "drops": {}}]},
            "status document is malformed (KeyError: 'yes')",
        ),
    ],
)
def test_an_unexpected_document_is_one_line(change: dict[str, object], message: str) -> None:
    document = {**copy.deepcopy(STATUS), **change}
    with pytest.raises(ViewError) as error:
        render(document, SINCE)
    assert str(error.value).startswith(message)
    assert "\n" not in str(error.value)
