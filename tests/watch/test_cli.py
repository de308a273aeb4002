"""``pycarp watch`` as a command: arguments, outputs, exit status, one-line errors."""

from __future__ import annotations

import json
import pathlib

import pytest

from pycarp.cli import watch
from pycarp.cli.main import main as pycarp_main
from pycarp.lab import craft

from .builders import START, VIPS, every


def _capture(path: pathlib.Path, records: list[tuple[float, bytes]]) -> str:
    craft.write_pcap(path, [(START + t, f) for t, f in records])
    return str(path)


@pytest.fixture
def crash(tmp_path: pathlib.Path) -> str:
    """h1 advertises, stops; h2 takes over after 3.39 s (a warning)."""
    records = every(1, 0.0, 5, 1.0) + every(2, 7.390625, 3, 1.390625, advskew=100)
    return _capture(tmp_path / "crash.pcap", records)


@pytest.fixture
def steady(tmp_path: pathlib.Path) -> str:
    return _capture(tmp_path / "steady.pcap", every(1, 0.0, 5, 1.0))


def test_subcommand_is_registered(steady: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert pycarp_main(["watch", "--pcap", steady]) == 0
    assert "carp 1 ipv4: master 198.51.100.1" in capsys.readouterr().out


def test_findings_make_status_1_and_json_is_one_document(
    crash: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        watch.main(
            [
                "--pcap",
                crash,
                "--json",
                "--pass",
                "1=secret",
                "--addr",
                "1=" + ",".join(map(str, VIPS)),
            ]
        )
        == 1
    )
    document = json.loads(capsys.readouterr().out)
    assert [f["code"] for f in document["findings"]] == ["master-adverts-late"]
    (group,) = document["groups"]
    assert group["master"] == "198.51.100.2"
    assert [(c["from"], c["to"], c["cause"]) for c in group["changes"]] == [
        (None, "198.51.100.1", "first"),
        ("198.51.100.1", "198.51.100.2", "silent"),
    ]
    assert group["changes"][1]["gap"] == pytest.approx(3.390625, abs=1e-5)
    digest = group["senders"][0]["digest"]
    assert digest == [
        {
            "form": "kernel",
            "addresses": [str(a) for a in VIPS],
            "source": "--addr",
            "key_bytes": 6,
            "adverts": 5,
        }
    ]


def test_a_passphrase_for_another_vhid_is_not_used(
    steady: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        watch.main(["--pcap", steady, "--json", "--pass", "2=secret", "--addr", str(VIPS[0])]) == 0
    )
    digest = json.loads(capsys.readouterr().out)["groups"][0]["senders"][0]["digest"]
    assert [d["form"] for d in digest] == ["unchecked"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "give either --pcap FILE or -i INTERFACE"),
        (["--pcap", "/nonexistent.pcap"], "cannot read /nonexistent.pcap"),
        (["--pcap", "x.pcap", "--duration", "3"], "--duration 3.0: seconds in 0..86400"),
        (["--pcap", "x.pcap", "--pass", "300=x"], "vhid 300 is outside 1..255"),
        (["--pcap", "x.pcap", "--every", "2"], "--every 2.0: seconds in 0..86400, only with -i"),
        (["--pcap", "x.pcap", "--pass", "s", "--addr", "1=nonsense"], "--addr"),
        (["--pcap", "x.pcap", "--addr", "198.51.100.1"], "give --pass, --passfile or --config"),
        (["-i", "pcl-no-such-if", "--duration", "1"], "no interface named 'pcl-no-such-if'"),
    ],
)
def test_usage_errors_are_one_line_and_status_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert watch.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert message in err


def test_not_a_pcap_and_pcapng_are_refused(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "text").write_text("hello, world, this is no capture")
    (tmp_path / "ng").write_bytes(b"\x0a\x0d\x0d\x0a" + bytes(40))
    assert watch.main(["--pcap", str(tmp_path / "text")]) == 2
    assert "not a pcap file" in capsys.readouterr().err
    assert watch.main(["--pcap", str(tmp_path / "ng")]) == 2
    assert "editcap" in capsys.readouterr().err


def test_passfile_per_vhid(
    crash: str, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    passfile = tmp_path / "pass"
    passfile.write_text("secret\n")
    argv = ["--pcap", crash, "--json", "--passfile", f"1={passfile}"]
    assert watch.main([*argv, "--addr", ",".join(map(str, VIPS))]) == 1
    senders = json.loads(capsys.readouterr().out)["groups"][0]["senders"]
    assert {d["form"] for s in senders for d in s["digest"]} == {"kernel"}


def test_help_explains_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert watch.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "19 bytes" in out
    assert "exit status" in out


def test_config_gives_passphrase_and_addresses_per_vhid(
    crash: str, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "groups.toml"
    config.write_text(
        '[[group]]\ninterface = "eth0"\nsource = "198.51.100.1"\nvhid = 1\n'
        'passphrase = "secret"\naddresses = ["198.51.100.100/24", "198.51.100.101/24"]\n'
    )
    assert watch.main(["--pcap", crash, "--json", "--config", str(config)]) == 1
    senders = json.loads(capsys.readouterr().out)["groups"][0]["senders"]
    assert {(d["form"], d["source"]) for s in senders for d in s["digest"]} == {
        ("kernel", "--config")
    }


def test_a_bad_config_is_one_line(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "groups.toml"
    config.write_text("[[group]]\nvhid = 300\n")
    assert watch.main(["--pcap", "x.pcap", "--config", str(config)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith(f"pycarp watch: error: --config {config}:")
