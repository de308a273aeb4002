"""The demo's embedded scenario: three hosts, two groups, each host preferred for one address.

This is the classic load-spreading set-up: with one group per address and a different
preferred master (lowest advskew) for each, two hosts do useful work and each backs up the
other; a third host is the last resort for both. The numbers are chosen so the timings are
easy to explain on screen: advbase 1 s, advskew 0 / 100 / 200.
"""

from __future__ import annotations

import dataclasses
import pathlib
import typing

from pycarp.core import timing
from pycarp.lab.naming import HOST_INTERFACE
from pycarp.lab.services import check_argv, write_tracked_config

if typing.TYPE_CHECKING:
    from pycarp.lab.lab import Lab

HOSTS = ("h1", "h2", "h3")
ADVBASE = 1
DEAD_RATIO = 3  # the kernels' fixed value; pycarp's default
PREFIX_LEN = 24
# Each host's fault track on its own web server (demo/service.py): checked every half second,
# down after two failures in a row, up again after two successes.
TRACK_INTERVAL = 0.5
TRACK_TIMEOUT = 0.4
TRACK_FALL = 2
TRACK_RISE = 2
PASS_ENV = "PYCARP_PASS"  # noqa: S105 - the variable's name; the lab sets a throwaway secret


@dataclasses.dataclass(frozen=True)
class Group:
    """One CARP group (vhid) of the demo: its address and each host's advskew."""

    vhid: int
    address: str
    advskew: typing.Mapping[str, int]

    @property
    def short(self) -> str:
        """``.100``: the last octet, enough to tell the two addresses apart in a table."""
        return "." + self.address.rsplit(".", 1)[1]

    @property
    def preferred(self) -> str:
        """The host that wins an election: the lowest advskew (all hosts share advbase)."""
        return min(self.advskew, key=lambda host: (self.advskew[host], host))

    def ranked(self) -> list[str]:
        """Hosts from the preferred master to the last resort."""
        return sorted(self.advskew, key=lambda host: (self.advskew[host], host))

    def master_down(self, host: str) -> float:
        """Seconds of silence after which ``host`` (a backup) takes over."""
        return timing.master_down_interval(ADVBASE, self.advskew[host], DEAD_RATIO)

    def advert_interval(self, host: str) -> float:
        """Seconds between ``host``'s adverts while it is master."""
        return timing.advertisement_interval(ADVBASE, self.advskew[host])

    def master_down_formula(self, host: str, times: str) -> str:
        """``3 x 1 s + 100/256 s``: the master-down interval spelled out (``times``: the sign)."""
        skew = self.advskew[host]
        base = f"{DEAD_RATIO} {times} {ADVBASE} s"
        return base if skew == 0 else f"{base} + {skew}/{timing.SKEW_UNIT} s"


GROUPS = (
    Group(vhid=1, address="198.51.100.100", advskew={"h1": 0, "h2": 100, "h3": 200}),
    Group(vhid=2, address="198.51.100.101", advskew={"h1": 100, "h2": 0, "h3": 200}),
)


def group_of(address: str) -> Group:
    return next(group for group in GROUPS if group.address == address)


def group_tables(lab: Lab, host: str) -> list[dict[str, object]]:
    """The ``[[group]]`` tables of ``host``'s TOML config (one pycarp process per host)."""
    return [
        {
            "interface": HOST_INTERFACE,
            "source": str(lab.ipv4(host).ip),
            "vhid": group.vhid,
            "pass_env": PASS_ENV,
            "addresses": [f"{group.address}/{PREFIX_LEN}"],
            "advbase": ADVBASE,
            "advskew": group.advskew[host],
            "preempt": False,
        }
        for group in GROUPS
    ]


def track_table(lab: Lab, host: str) -> dict[str, object]:
    """The ``[[track]]`` of ``host``: a GET of its own page; fault (hand over, stay out)."""
    return {
        "name": "web",
        "script": check_argv(str(lab.ipv4(host).ip), TRACK_TIMEOUT),
        "interval": TRACK_INTERVAL,
        "timeout": TRACK_TIMEOUT,
        "fall": TRACK_FALL,
        "rise": TRACK_RISE,
    }


def write_host_config(lab: Lab, host: str, workdir: pathlib.Path) -> pathlib.Path:
    path = workdir / f"{host}.toml"
    return write_tracked_config(path, group_tables(lab, host), [track_table(lab, host)])
