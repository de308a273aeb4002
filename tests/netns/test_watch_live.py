"""``pycarp watch -i`` on the real kernel: it sees a failover as the bridge capture does.

The watcher runs on the client's interface (a node of the segment that runs no CARP), as the
unprivileged user with CAP_NET_RAW alone where this checkout lets that user run pycarp. The
master change it reports, and the silence before it, must match what tcpdump on the bridge
measured (both are kernel receive timestamps of the same frames, a veth hop apart).
"""

from __future__ import annotations

import json
import pathlib
import select
import signal
import subprocess
import sys
import time
import typing

from pycarp.lab import HOST_INTERFACE, Lab
from pycarp.lab.capture import AdvertCapture, failover_gap
from pycarp.lab.daemons import NOBODY, as_user, why_user_cannot_run_pycarp

from .support import ELECTION_TIMEOUT, start_group, wait_for_stable_master, wait_for_state

SAME_FRAMES = 0.005  # s: the watcher's gap and the bridge's may differ by this much


def _start_watcher(
    lab: Lab, duration: float | None, *extra: str
) -> tuple[subprocess.Popen[str], str]:
    reason = why_user_cannot_run_pycarp()
    wrapper = as_user(NOBODY, ("net_raw",)) if reason is None else []
    who = "nobody with CAP_NET_RAW only" if reason is None else f"root ({reason})"
    argv = [sys.executable, "-m", "pycarp", "watch", "-i", HOST_INTERFACE]
    argv += [*([] if duration is None else ["--duration", str(duration)]), "--json", *extra]
    process = lab.popen(
        "client",
        [*wrapper, *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    line = process.stderr.readline()  # blocks until the socket is open (or it failed)
    assert "listening on" in line, line + process.stderr.read()
    return process, who


def _document(process: subprocess.Popen[str], timeout: float) -> tuple[int, dict[str, typing.Any]]:
    out, err = process.communicate(timeout=timeout)
    assert "Traceback" not in err, err
    return process.returncode, json.loads(out)


def test_watch_reports_the_failover_with_the_gap_the_bridge_saw(
    lab: Lab, tmp_path: pathlib.Path
) -> None:
    with AdvertCapture(lab, tmp_path / "bridge.pcap") as capture:
        daemons = start_group(lab, tmp_path, skews={"h1": 0, "h2": 100})
        wait_for_stable_master(daemons, "h1")
        watcher, who = _start_watcher(lab, 9.0, "--pass", "secret")
        try:
            time.sleep(2.5)
            killed_at = time.time()
            daemons["h1"].kill()
            wait_for_state(daemons["h2"], "MASTER", timeout=ELECTION_TIMEOUT)
            status, document = _document(watcher, timeout=20)
        finally:
            if watcher.poll() is None:
                watcher.kill()
                watcher.wait()
        adverts = capture.adverts()

    h1, h2 = str(lab.ipv4("h1").ip), str(lab.ipv4("h2").ip)
    bridge_gap = failover_gap(adverts, h1, h2, vhid=1, after=killed_at - 0.05)
    (group,) = document["groups"]
    change = group["changes"][-1]
    print(
        f"watch ({who}): {h1} -> {h2} after {change['gap'] * 1000:.2f} ms; "
        f"bridge: {bridge_gap * 1000:.2f} ms"
    )
    assert (change["from"], change["to"], change["cause"]) == (h1, h2, "silent")
    assert abs(change["gap"] - bridge_gap) <= SAME_FRAMES
    assert group["master"] == h2
    assert [f["code"] for f in document["findings"]] == ["master-adverts-late"]
    assert status == 1
    digests = {d["form"] for s in group["senders"] for d in s["digest"]}
    assert digests == {"kernel"}, group["senders"]  # over the addresses the client saw announced


def test_watch_without_findings_exits_0_and_never_sends(lab: Lab, tmp_path: pathlib.Path) -> None:
    daemons = start_group(lab, tmp_path, skews={"h1": 0})
    wait_for_stable_master(daemons, "h1")
    before = _transmitted(lab)
    watcher, _who = _start_watcher(lab, 3.0)
    status, document = _document(watcher, timeout=20)
    assert status == 0
    assert document["findings"] == []
    (group,) = document["groups"]
    assert group["master"] == str(lab.ipv4("h1").ip)
    assert group["senders"][0]["adverts"] >= 2
    assert _transmitted(lab) == before, "the watcher sent something"


def test_watch_without_duration_prints_each_finding_as_a_json_line_when_found(
    lab: Lab, tmp_path: pathlib.Path
) -> None:
    daemons = start_group(lab, tmp_path, skews={"h1": 0, "h2": 100})
    wait_for_stable_master(daemons, "h1")
    watcher, _who = _start_watcher(lab, None)
    try:
        time.sleep(1.5)
        daemons["h1"].kill()
        assert watcher.stdout is not None
        ready, _w, _x = select.select([watcher.stdout], [], [], ELECTION_TIMEOUT + 3)
        assert ready, "no finding printed while running"
        finding = json.loads(watcher.stdout.readline())
        assert finding["code"] == "master-adverts-late"
        assert finding["severity"] == "warning"
        assert finding["advice"]
        watcher.send_signal(signal.SIGTERM)
        rest, err = watcher.communicate(timeout=10)
    finally:
        if watcher.poll() is None:
            watcher.kill()
            watcher.wait()
    assert rest == ""  # each finding once: nothing new at the end
    assert "Traceback" not in err
    assert watcher.returncode == 1


def _transmitted(lab: Lab) -> int:
    text = lab.exec("client", ["cat", f"/sys/class/net/{HOST_INTERFACE}/statistics/tx_packets"])
    return int(text.stdout.strip())


def test_every_prints_the_live_table_while_it_runs(lab: Lab, tmp_path: pathlib.Path) -> None:
    daemons = start_group(lab, tmp_path, skews={"h1": 0})
    wait_for_stable_master(daemons, "h1")
    argv = [sys.executable, "-m", "pycarp", "watch", "-i", HOST_INTERFACE]
    process = lab.popen(
        "client",
        [*argv, "--duration", "3.5", "--every", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
    tables = out.count(f"carp 1 ipv4: master {lab.ipv4('h1').ip}")
    assert tables >= 3, out  # at 1, 2, 3 s, and the report at the end
