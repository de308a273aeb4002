"""Operator hooks on the real kernel: up/down scripts, ``--notify``, and a hook that hangs.

The scripts are real ``/bin/sh`` scripts in ``tmp_path`` that append their argv and PYCARP_*
environment to a file, so the tests see exactly what an operator's script would get. A ucarp
command line with ``--upscript``/``--downscript`` must behave as under ucarp: the scripts, not
pycarp, add and remove the address. A hook that hangs must hold back nothing but the hooks
queued behind it: adverts of every group stay on time, and shutdown still ends it.
"""

from __future__ import annotations

import pathlib
import time
import typing

import pytest

from pycarp.lab import Lab
from pycarp.lab.capture import AdvertCapture
from pycarp.lab.daemons import (
    LAB_PASSPHRASE,
    Daemon,
    pycarp_args,
    start_pycarp,
    wait_for,
    write_config,
)
from pycarp.lab.namespaces import process_alive
from pycarp.runtime.daemon import SHUTDOWN_DRAIN_TIMEOUT

from .support import (
    ELECTION_TIMEOUT,
    VIPS,
    advert_interval,
    advert_times,
    held_ips,
    ips,
    read_records,
    recording_script,
    spacing_deviation,
    status_of,
    wait_for_stable_master,
    wait_for_state,
    wait_started,
    write_script,
)

XPARAM = "extra-param"
UCARP_VIP = "198.51.100.100"


def hook_scripts(workdir: pathlib.Path, node: str, *, up: str = "", down: str = "") -> list[str]:
    """``-u``/``-d``/``--notify`` recording scripts for ``node`` (``up``/``down``: more shell)."""
    folder = workdir / node
    folder.mkdir()
    record = folder / "calls.jsonl"
    return [
        "--upscript",
        str(recording_script(folder / "up.sh", folder / "up.jsonl", then=up)),
        "--downscript",
        str(recording_script(folder / "down.sh", folder / "down.jsonl", then=down)),
        "--notify",
        str(recording_script(folder / "notify.sh", record)),
    ]


def records(workdir: pathlib.Path, node: str, hook: str) -> list[dict[str, typing.Any]]:
    name = "calls" if hook == "notify" else hook
    return read_records(workdir / node / f"{name}.jsonl")


def test_up_down_and_notify_hooks_get_the_documented_arguments(
    lab: Lab, tmp_path: pathlib.Path
) -> None:
    daemons: dict[str, Daemon] = {}
    for node, skew in (("h1", 0), ("h2", 100)):
        extra = [*hook_scripts(tmp_path, node), "--xparam", XPARAM, "--address-mode", "native"]
        args = pycarp_args(lab, node, addresses=VIPS, advskew=skew, extra=extra)
        daemons[node] = wait_started(start_pycarp(lab, node, args, workdir=tmp_path))
    wait_for_stable_master(daemons, "h1")
    wait_for(lambda: len(records(tmp_path, "h1", "up")) == 2, 5.0)
    wait_for(lambda: len(records(tmp_path, "h1", "notify")) == 2, 5.0)
    wait_for(lambda: len(records(tmp_path, "h2", "down")) == 2, 5.0)
    daemons["h1"].kill()
    wait_for_state(daemons["h2"], "MASTER", timeout=ELECTION_TIMEOUT)
    wait_for(lambda: len(records(tmp_path, "h2", "up")) == 2, 5.0)
    wait_for(lambda: len(records(tmp_path, "h2", "notify")) == 2, 5.0)

    per_address = sorted(["eth0", ip, XPARAM] for ip in sorted(ips(VIPS)))
    all_addresses = " ".join(ip.split("/")[0] for ip in VIPS)
    # Start-up runs the down script once per address (as ucarp does without --neutral).
    for node in ("h1", "h2"):
        downs = records(tmp_path, node, "down")
        assert sorted(call["argv"] for call in downs) == per_address
        for call in downs:
            assert call["env"]["PYCARP_VHID"] == "1"
            assert call["env"]["PYCARP_INTERFACE"] == "eth0"
            assert call["env"]["PYCARP_ADDRESSES"] == all_addresses
            assert call["env"]["PYCARP_NEW_STATE"] == "BACKUP"
    for node, reason in (("h1", "master-down timer expired"), ("h2", "master-down timer expired")):
        ups = records(tmp_path, node, "up")
        assert sorted(call["argv"] for call in ups) == per_address
        for call in ups:
            env = call["env"]
            assert (env["PYCARP_OLD_STATE"], env["PYCARP_NEW_STATE"]) == ("BACKUP", "MASTER")
            assert env["PYCARP_REASON"] == reason
            assert env["PYCARP_ADDRESSES"] == all_addresses
        notes = records(tmp_path, node, "notify")
        assert [call["argv"] for call in notes] == [["1@eth0", "BACKUP"], ["1@eth0", "MASTER"]]
        assert notes[1]["env"]["PYCARP_NEW_STATE"] == "MASTER"
        assert notes[1]["env"]["PYCARP_VHID"] == "1"
    # --address-mode native: pycarp added the addresses itself, with their prefixes.
    wait_for(lambda: held_ips(lab, "h2") == ips(VIPS), 2.0)
    assert {str(a) for a in lab.virtual_addresses("h2")} == set(VIPS)


def test_an_unchanged_ucarp_command_line_lets_the_scripts_manage_the_address(
    lab: Lab, tmp_path: pathlib.Path
) -> None:
    add = 'ip addr add "$2/24" dev "$1"\n'
    delete = 'ip addr del "$2/24" dev "$1" 2>/dev/null\nexit 0\n'
    daemons: dict[str, Daemon] = {}
    for node, skew in (("h1", "0"), ("h2", "100")):
        scripts = hook_scripts(tmp_path, node, up=add, down=delete)
        # ucarp's own flags, verbatim: short options, -p on the command line, no /prefix.
        argv = ["-i", "eth0", "-s", str(lab.ipv4(node).ip), "-v", "1", "-p", LAB_PASSPHRASE]
        argv += ["-a", UCARP_VIP, "-u", scripts[1], "-d", scripts[3], "-z", "-b", "1", "-k", skew]
        daemons[node] = wait_started(
            start_pycarp(lab, node, argv, workdir=tmp_path, passphrase=None)
        )
    wait_for_stable_master(daemons, "h1")
    wait_for(lambda: UCARP_VIP in held_ips(lab, "h1"), 3.0)
    # The up script's /24, not pycarp's /32 default for an address without a prefix.
    assert [str(a) for a in lab.virtual_addresses("h1")] == [f"{UCARP_VIP}/24"]
    assert held_ips(lab, "h2") == set()
    (started,) = daemons["h1"].events("group_started")
    assert started["address_mode"] == "scripts"
    assert "script-managed addresses" in daemons["h1"].log()  # what the operator reads

    status = daemons["h1"].stop()
    wait_for_state(daemons["h2"], "MASTER", timeout=advert_interval(0) + 1.0)
    wait_for(lambda: UCARP_VIP in held_ips(lab, "h2"), 3.0)
    assert status == 0
    assert held_ips(lab, "h1") == set(), "-z: the down script ran on exit and removed it"
    assert [call["argv"] for call in records(tmp_path, "h1", "down")] == [
        ["eth0", UCARP_VIP],  # start-up
        ["eth0", UCARP_VIP],  # exit (-z)
    ]
    assert [call["argv"] for call in records(tmp_path, "h2", "up")] == [["eth0", UCARP_VIP]]
    for daemon in daemons.values():  # pycarp itself never touched the address
        assert daemon.events("address_changed") == []


HOOK_SECRET = "hostile-s3gment"  # test data: must reach no hook
ADDRESS_CAPS = (1 << 12) | (1 << 13)  # CAP_NET_ADMIN | CAP_NET_RAW


def dumping_script(folder: pathlib.Path, name: str, then: str = "") -> str:
    """A hook that saves its own environment and capability sets (one set of files per run),
    then runs ``then``."""
    return str(
        write_script(
            folder / name,
            f"cat /proc/$$/environ > '{folder}/{name}.env.'$$\n"
            f"grep '^Cap' /proc/$$/status > '{folder}/{name}.caps.'$$\n"
            f": > '{folder}/{name}.done.'$$\n{then}",
        )
    )


def hook_runs(folder: pathlib.Path) -> list[tuple[str, dict[str, str], dict[str, int]]]:
    """(hook, environment, capability sets) of every completed run of a dumping script."""
    runs = []
    for done in sorted(folder.glob("*.done.*")):
        name, _, pid = done.name.partition(".done.")
        raw = (folder / f"{name}.env.{pid}").read_bytes()
        env = dict(item.decode(errors="replace").partition("=")[::2] for item in raw.split(b"\0"))
        caps = {}
        for line in (folder / f"{name}.caps.{pid}").read_text().splitlines():
            key, _, value = line.partition(":")
            caps[key] = int(value, 16)
        runs.append((name, env, caps))
    return runs


def test_hooks_get_no_passphrase_and_only_the_capabilities_their_mode_needs(
    lab: Lab, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """h1: an unchanged ucarp command line (PYCARP_PASS; the scripts add the address, with
    only NET_ADMIN + NET_RAW left). h2: a TOML file (pass_env; pycarp moves the addresses,
    the notify hook gets no capability at all). Both daemons run as root."""
    h1, h2 = tmp_path / "h1", tmp_path / "h2"
    h1.mkdir()
    h2.mkdir()
    add = 'ip addr add "$2/24" dev "$1"\n'
    delete = 'ip addr del "$2/24" dev "$1" 2>/dev/null\nexit 0\n'
    argv = ["-i", "eth0", "-s", str(lab.ipv4("h1").ip), "-v", "1", "-a", UCARP_VIP, "-z"]
    argv += ["-u", dumping_script(h1, "up", add), "-d", dumping_script(h1, "down", delete)]
    first = start_pycarp(lab, "h1", argv, workdir=tmp_path, passphrase=HOOK_SECRET)
    daemons = {"h1": wait_started(first)}
    monkeypatch.setenv("LAB_CARP_SECRET", HOOK_SECRET)
    table: dict[str, object] = {
        "interface": "eth0",
        "source": str(lab.ipv4("h2").ip),
        "vhid": 1,
        "pass_env": "LAB_CARP_SECRET",
        "addresses": [f"{UCARP_VIP}/24"],
        "advskew": 100,
        "notify": dumping_script(h2, "notify"),
    }
    config = write_config(tmp_path / "h2.toml", [table])
    second = start_pycarp(lab, "h2", ["--config", str(config)], workdir=tmp_path, passphrase=None)
    daemons["h2"] = wait_started(second)
    wait_for_stable_master(daemons, "h1")
    wait_for(lambda: UCARP_VIP in held_ips(lab, "h1"), 3.0)  # added by the script itself
    assert daemons["h1"].stop() == 0
    wait_for_state(daemons["h2"], "MASTER", timeout=ELECTION_TIMEOUT)
    wait_for(lambda: len(hook_runs(h2)) == 2, 5.0)  # BACKUP, MASTER
    assert held_ips(lab, "h1") == set(), "the down script (-z) removed it"

    for folder, expected in ((h1, ADDRESS_CAPS), (h2, 0)):
        runs = hook_runs(folder)
        assert {name for name, _, _ in runs} == ({"up", "down"} if folder == h1 else {"notify"})
        for name, env, caps in runs:
            assert not any(HOOK_SECRET in value for value in env.values()), (name, env)
            assert "PYCARP_PASS" not in env
            assert "LAB_CARP_SECRET" not in env
            assert env["PYCARP_VHID"] == "1"
            assert (caps["CapEff"], caps["CapPrm"], caps["CapBnd"]) == (expected,) * 3, name


HANG = """echo $$ > {folder}/hook.pid
sleep 60 &
echo $! > {folder}/child.pid
wait
"""


@pytest.mark.slow
def test_a_hanging_hook_delays_no_advert_and_does_not_outlive_the_daemon(
    lab: Lab, tmp_path: pathlib.Path
) -> None:
    hang = write_script(tmp_path / "hang.sh", HANG.format(folder=tmp_path))
    daemons: dict[str, Daemon] = {}
    for node, skew in (("h1", 0), ("h2", 100)):
        groups = []
        for vhid, address in ((1, VIPS[0]), (2, VIPS[1])):
            table: dict[str, object] = {
                "interface": "eth0",
                "source": str(lab.ipv4(node).ip),
                "vhid": vhid,
                "addresses": [address],
                "advskew": skew,
                "address_mode": "native",
                "script_timeout": 120,
            }
            if node == "h1" and vhid == 1:
                table["upscript"] = str(hang)
            groups.append(table)
        config = write_config(tmp_path / f"{node}.toml", groups)
        daemon = start_pycarp(lab, node, ["--config", str(config)], workdir=tmp_path)
        daemons[node] = wait_started(daemon, groups=2)

    with AdvertCapture(lab, tmp_path / "adverts.pcap") as capture:
        for vhid in (1, 2):
            wait_for_stable_master(daemons, "h1", vhid=vhid)
        child = tmp_path / "child.pid"
        wait_for(lambda: child.exists() and child.read_text().endswith("\n"), 5.0)
        hung_at = time.time()
        pids = [int((tmp_path / name).read_text()) for name in ("hook.pid", "child.pid")]
        time.sleep(5.2)  # five intervals with the hook hanging
        assert all(process_alive(pid) for pid in pids), "the hook must still be hanging"
        status = status_of(daemons["h1"])
        assert (status[1].state, status[2].state) == ("MASTER", "MASTER")
        adverts = capture.adverts()

        stop_at, stopped_wall = time.monotonic(), time.time()
        exit_status = daemons["h1"].stop(timeout=SHUTDOWN_DRAIN_TIMEOUT + 10)
        stop_took = time.monotonic() - stop_at
        for vhid in (1, 2):
            wait_for_state(daemons["h2"], "MASTER", vhid=vhid, timeout=2.0)
        handover = capture.adverts()

    h1 = str(lab.ipv4("h1").ip)
    for vhid in (1, 2):
        times = advert_times(adverts, h1, vhid, start=hung_at - 0.01)
        assert len(times) >= 5
        deviation = spacing_deviation(times, advert_interval(0))
        print(
            f"vhid {vhid} during the hanging hook: {len(times)} adverts, max deviation "
            f"{deviation * 1000:.1f} ms"
        )
        assert deviation < 0.15
        # The bow-out went out at once, not after the shutdown had waited for the hook.
        bow_out = [
            a
            for a in handover
            if a.source == h1 and a.advert.vhid == vhid and a.advert.advbase == 255
        ]
        assert len(bow_out) == 1
        assert bow_out[0].timestamp - stopped_wall < 0.5
    print(f"shutdown with a hanging hook took {stop_took:.2f} s")
    assert exit_status == 0
    assert stop_took < SHUTDOWN_DRAIN_TIMEOUT + 5
    assert not any(process_alive(pid) for pid in pids), "the hook outlived the daemon"
    assert held_ips(lab, "h1") == set()
    assert "still running at exit: killed" in daemons["h1"].log()
