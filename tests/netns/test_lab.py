"""The namespace lab on the real kernel: wiring, faults, teardown, CLI."""

from __future__ import annotations

import ipaddress
import os
import signal
import subprocess
import time

import pytest

from pycarp.cli import lab as lab_cli
from pycarp.lab import Lab, LabError
from pycarp.lab.namespaces import list_namespaces, process_alive
from pycarp.lab.naming import owned_name, owned_prefix
from pycarp.lab.programs import check_status


def ours() -> set[str]:
    """Namespaces of labs this test process made (other processes may build labs meanwhile)."""
    prefix = owned_prefix()
    return {namespace for namespace in list_namespaces() if namespace.startswith(prefix)}


def ping(lab: Lab, source: str, target: str, *, v6: bool = False, count: int = 3) -> bool:
    """Bounded: ``count`` echo requests 0.2 s apart, 1 s wait for the last reply."""
    address = lab.ipv6(target) if v6 else lab.ipv4(target)
    argv = ["ping", "-6" if v6 else "-4", "-n", "-q", "-c", str(count), "-i", "0.2", "-W", "1"]
    return (
        check_status(lab.exec(source, [*argv, str(address.ip)], timeout=10), (0, 1)).returncode == 0
    )


def unreachable(lab: Lab, source: str, target: str) -> bool:
    """One echo request, half a second for the reply: enough on a local bridge.

    Only "no reply" (status 1) counts: ping failing to run (status 2) raises LabError.
    """
    argv = ["ping", "-4", "-n", "-q", "-c", "1", "-W", "0.5", str(lab.ipv4(target).ip)]
    return check_status(lab.exec(source, argv, timeout=10), (0, 1)).returncode == 1


def received_pings(lab: Lab, source: str, target: str, count: int) -> int:
    """How many of ``count`` quick pings (2 ms apart) came back."""
    address = str(lab.ipv4(target).ip)
    argv = ["ping", "-4", "-n", "-q", "-c", str(count), "-i", "0.002", "-W", "1", address]
    done = check_status(lab.exec(source, argv, timeout=15), (0, 1))
    summary = next(line for line in done.stdout.splitlines() if "received" in line)
    return int(summary.split(",")[1].split()[0])


def test_lab_builds_and_tears_down_completely(root: None) -> None:
    before = ours()
    with Lab.create(hosts=2, client=True) as lab:
        created = ours() - before
        assert created == {lab.namespace(node) for node in ("sw", "h1", "h2", "client")}
        sleeper = lab.popen("h1", ["sleep", "30"])
    assert ours() == before
    assert sleeper.poll() is not None, "teardown must end the processes the lab started"


def test_teardown_also_happens_on_exception(root: None) -> None:
    before = ours()
    started: list[subprocess.Popen[bytes]] = []

    def fail_inside_a_lab() -> None:
        with Lab.create(hosts=2) as lab:
            started.append(lab.popen("h2", ["sleep", "30"]))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        fail_inside_a_lab()
    assert ours() == before
    assert started[0].poll() is not None


def test_teardown_also_happens_on_ctrl_c(root: None) -> None:
    before = ours()
    started: list[subprocess.Popen[bytes]] = []

    def interrupted_inside_a_lab() -> None:
        with Lab.create(hosts=2) as lab:
            started.append(lab.popen("h1", ["sleep", "30"]))
            os.kill(os.getpid(), signal.SIGINT)  # a real Ctrl-C, delivered to this process
            time.sleep(5)  # never reached in full: the signal interrupts the sleep

    with pytest.raises(KeyboardInterrupt):
        interrupted_inside_a_lab()
    assert ours() == before
    assert started[0].poll() is not None


def test_teardown_ends_processes_it_did_not_start_itself(root: None) -> None:
    """A daemon that forked into the background still dies: by PID, found via its namespace."""
    with Lab.create(hosts=1) as lab:
        lab.exec("h1", ["sh", "-c", "sleep 30 >/dev/null 2>&1 &"], check=True)
        found = subprocess.run(
            ["ip", "netns", "pids", lab.namespace("h1")], capture_output=True, text=True, check=True
        )
        orphans = [int(pid) for pid in found.stdout.split()]
        assert orphans
    deadline = time.monotonic() + 2
    while any(process_alive(pid) for pid in orphans) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not any(process_alive(pid) for pid in orphans)


def test_each_node_has_its_planned_addresses_and_lo(lab: Lab) -> None:
    assert lab.hosts == ("h1", "h2", "h3")
    assert lab.client == "client"
    for node in lab.nodes:
        found = lab.addresses(node)
        assert lab.ipv4(node) in found
        assert lab.ipv6(node) in found
        v4 = [a for a in found if a.ip.version == 4]
        assert all(a.ip in ipaddress.ip_network("198.51.100.0/24") for a in v4)
    assert lab.ipv4("h2") == ipaddress.IPv4Interface("198.51.100.2/24")
    assert lab.ipv4("client") == ipaddress.IPv4Interface("198.51.100.250/24")
    assert lab.exec("h1", ["ping", "-c", "1", "-W", "1", "127.0.0.1"]).returncode == 0


def test_hosts_reach_each_other_over_ipv4_and_ipv6(lab: Lab) -> None:
    assert ping(lab, "h1", "h2")
    assert ping(lab, "h3", "client")
    assert ping(lab, "h2", "h1", v6=True)


def test_virtual_addresses_are_the_extra_ones(lab: Lab) -> None:
    assert lab.virtual_addresses("h1") == []
    lab.exec("h1", ["ip", "addr", "add", "198.51.100.100/24", "dev", "eth0"], check=True)
    assert lab.virtual_addresses("h1") == [ipaddress.IPv4Interface("198.51.100.100/24")]


def test_cut_and_heal_change_the_carrier_the_host_sees(lab: Lab) -> None:
    assert lab.carrier("h1")
    lab.cut("h1")
    assert not lab.carrier("h1")
    assert "NO-CARRIER" in lab.exec("h1", ["ip", "link", "show", "eth0"]).stdout
    assert lab.carrier("h2")
    assert unreachable(lab, "h2", "h1")
    lab.heal("h1")
    assert lab.carrier("h1")
    assert ping(lab, "h2", "h1")


def test_isolation_blocks_traffic_and_reconnect_restores_it(lab: Lab) -> None:
    lab.isolate("h1")
    assert lab.carrier("h1"), "isolation is not a cable pull"
    assert unreachable(lab, "h1", "h2")
    assert ping(lab, "h2", "h3")
    assert lab.impairments().get("*") == "partitioned"
    lab.reconnect()
    assert ping(lab, "h1", "h2")


def test_partition_splits_the_segment_in_groups(lab: Lab) -> None:
    lab.partition(["h1", "h2"], ["h3"])  # the client, unnamed, is a group of its own
    assert ping(lab, "h1", "h2")
    assert unreachable(lab, "h2", "h3")
    assert unreachable(lab, "client", "h1")
    lab.reset()
    assert ping(lab, "client", "h3")


def test_loss_of_100_percent_blocks_and_0_percent_passes(lab: Lab) -> None:
    # Resolve neighbours first: this test is about the data path, not ARP giving up.
    assert ping(lab, "h1", "h2", count=1)
    assert ping(lab, "h1", "h3", count=1)
    lab.set_loss("h2", 100)
    assert lab.impairments()["h2"] == "loss 100%"
    assert received_pings(lab, "h1", "h2", 10) == 0
    lab.set_loss("h2", 0)
    assert received_pings(lab, "h1", "h2", 20) == 20
    lab.set_loss("h3", 50)
    assert lab.impairments()["h3"] == "loss 50%"
    # Two crossings of a 50 % port: about 25 % of round trips survive; bounds are very wide.
    assert 5 <= received_pings(lab, "h1", "h3", 200) <= 120
    lab.clear_loss("h3")
    assert "h3" not in lab.impairments()


def test_unknown_node_is_a_clear_error(lab: Lab) -> None:
    with pytest.raises(LabError, match="no node 'h7'"):
        lab.cut("h7")


def test_cleanup_stale_removes_only_labs_whose_owner_is_gone(root: None) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    with (
        Lab.create(hosts=1, name=owned_name(1, pid=dead.pid)) as stale,
        Lab.create(hosts=1) as live,
    ):
        removed = Lab.cleanup_stale(stale.names.prefix)
        assert set(removed) == {stale.namespace("h1"), stale.switch_namespace}
        assert Lab.cleanup_stale(live.names.prefix) == []
        assert live.switch_namespace in list_namespaces()


def test_cli_up_status_exec_down(root: None, capsys: pytest.CaptureFixture[str]) -> None:
    name = f"t{os.getpid()}"
    try:
        assert lab_cli.main(["--name", name, "up", "--hosts", "2"]) == 0
        assert lab_cli.main(["up", "--name", name, "--hosts", "2", "--client"]) == 0
        built = Lab.attach(name)
        assert built is not None
        assert built.nodes == ("h1", "h2", "client")
        capsys.readouterr()
        built.exec("h2", ["ip", "addr", "add", "198.51.100.100/24", "dev", "eth0"], check=True)
        built.cut("h1")
        assert lab_cli.main(["--name", name, "status"]) == 0
        status = capsys.readouterr().out
        assert "198.51.100.250/24" in status
        assert "holds 198.51.100.100/24" in status
        assert "NO-CARRIER" in status
        assert lab_cli.main(["--name", name, "exec", "h1", "--", "true"]) == 0
        assert lab_cli.main(["--name", name, "exec", "h1", "--", "false"]) == 1
        assert lab_cli.main(["--name", name, "down"]) == 0
        assert Lab.attach(name) is None
        assert lab_cli.main(["--name", name, "down"]) == 0  # idempotent
    finally:
        leftover = Lab.attach(name)
        if leftover is not None:
            leftover.close()
