"""``pycarp demo``: a live CARP failover in a throwaway network-namespace lab (root).

Without ``--keep`` the lab is owned by this process and removed on any exit: normal end,
failure, Ctrl-C or SIGTERM. With ``--keep`` it is a user-named lab (like ``pycarp lab up``)
that stays up, daemons running, until ``pycarp lab --name NAME down``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pathlib
import shutil
import signal
import sys
import tempfile
import time
import types
import typing

from pycarp.demo.screen import Screen
from pycarp.demo.story import Story
from pycarp.demo.watch import DemoError
from pycarp.lab import Lab, LabError
from pycarp.lab.namespaces import list_namespaces
from pycarp.lab.naming import check_user_name

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_SIGINT = 130
EXIT_SIGTERM = 143
DEFAULT_NAME = "demo"
TOOLS = {"ip": "iproute2", "nft": "nftables", "tcpdump": "tcpdump", "ping": "iputils-ping"}

DESCRIPTION = """\
A live CARP failover, in about 25 seconds, in a lab of network namespaces that is built for
the demo and removed afterwards (nothing touches your real network).

Three hosts h1, h2, h3 and a client share a switch. Each host runs one pycarp process with
two groups: vhid 1 (198.51.100.100, preferred master h1) and vhid 2 (198.51.100.101,
preferred master h2), spread by advskew. The demo then
  1. waits for the first election,
  2. crashes h1 (kill -9 and a pulled cable) while the client pings 198.51.100.100 every
     10 ms: h2 takes over; the takeover time is measured on the bridge and the lost pings
     are counted,
  3. brings h1 back: its pycarp removes the address kill -9 left behind and stays backup
     (no preemption),
  4. stops h2's pycarp cleanly (SIGTERM): it bows out and h1 takes over at once,
  5. puts h1 in maintenance (pycarp maintenance on): h3 takes over within its own skew
     and h1 stays backup at advskew 240; maintenance off restores its advskew, and with
     preemption off h1 takes nothing back,
  6. kills the web server (not the host) on h3, the master: each host's health track (a
     GET of its own page every 0.5 s, fall 2) goes down and h3 hands over to h1; the
     server's restart brings the track up, and the addresses stay (preempt off),
and tears everything down. A table shows who is MASTER of what as it changes (redrawn in
place on a terminal, printed as plain lines otherwise). Needs root; scripts/demo.sh
installs what is missing and runs this."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pycarp demo",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="leave the lab up at the end (pycarp running on every host) to explore it with "
        "`pycarp lab`; it is removed anyway if the demo fails or is interrupted",
    )
    parser.add_argument(
        "--name",
        default=DEFAULT_NAME,
        help="the lab's name with --keep (default: %(default)s)",
    )
    return parser


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    if os.geteuid() != 0:
        print(
            "pycarp demo: needs root (it builds network namespaces); try: sudo scripts/demo.sh",
            file=sys.stderr,
        )
        return EXIT_USAGE
    missing = [f"{tool} ({package})" for tool, package in TOOLS.items() if not _have(tool)]
    if missing:
        print(f"pycarp demo: missing {', '.join(missing)}: run scripts/setup.sh", file=sys.stderr)
        return EXIT_USAGE
    screen = Screen.for_stream(sys.stdout)
    try:
        with _terminate_as_exit():
            if args.keep:
                return _run_kept(check_user_name(args.name), screen)
            return _run_throwaway(screen)
    except KeyboardInterrupt:
        screen.close()
        print("pycarp demo: interrupted; the lab was torn down", file=sys.stderr)
        return EXIT_SIGINT
    except SystemExit as stop:
        screen.close()
        if stop.code == EXIT_SIGTERM:
            print("pycarp demo: terminated; the lab was torn down", file=sys.stderr)
        raise
    except LabError as error:  # the lab itself could not be built or removed
        screen.close()
        print(f"pycarp demo: {error}", file=sys.stderr)
        return EXIT_FAILED


def _run_throwaway(screen: Screen) -> int:
    started = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="pycarp-demo-") as tmp,
        Lab.create(hosts=3, client=True) as lab,
    ):
        story = Story(lab, pathlib.Path(tmp), screen)
        failure = _tell(story)
        screen.step("tearing down the lab")
    left = [ns for ns in list_namespaces() if ns.startswith(lab.names.prefix)]
    screen.close()
    if failure is not None:
        print(f"pycarp demo: FAILED: {failure}", file=sys.stderr)
        return EXIT_FAILED
    _summary(screen, story)
    if left:  # pragma: no cover - Lab.close raises before this can happen
        print(f"pycarp demo: namespaces left behind: {', '.join(left)}", file=sys.stderr)
        return EXIT_FAILED
    screen.line(
        f"done in {time.monotonic() - started:.1f} s; nothing left behind "
        "(namespaces removed, processes ended)."
    )
    return 0


def _run_kept(name: str, screen: Screen) -> int:
    if Lab.attach(name) is not None:
        print(
            f"pycarp demo: a lab named {name!r} already exists (an earlier --keep?); remove it "
            f"with `{_pycarp()} lab --name {name} down` or pick another --name",
            file=sys.stderr,
        )
        return EXIT_FAILED
    started = time.monotonic()
    workdir = pathlib.Path(tempfile.mkdtemp(prefix=f"pycarp-demo-{name}-"))
    lab = Lab.ensure(name, 3, client=True)
    failure: str | None = None
    kept = False
    try:
        story = Story(lab, workdir, screen)
        failure = _tell(story)
        if failure is None:
            story.restore()
            kept = True
    except (DemoError, LabError) as error:
        failure = str(error)
    finally:
        if not kept:  # failed or interrupted: leave nothing behind
            with contextlib.suppress(Exception):
                lab.close()
            shutil.rmtree(workdir, ignore_errors=True)
    screen.close()
    if not kept:
        print(f"pycarp demo: FAILED: {failure}; the lab was removed", file=sys.stderr)
        return EXIT_FAILED
    _summary(screen, story)
    screen.line(f"done in {time.monotonic() - started:.1f} s.")
    screen.line()
    _explain_kept_lab(screen, name, story)
    return 0


def _tell(story: Story) -> str | None:
    """Run the story; on a DemoError say what went wrong (with log tails) and return it."""
    try:
        story.run()
    except (DemoError, LabError) as error:
        story.screen.warn(f"the demo did not go as expected: {error}")
        for host, daemon in sorted(story.daemons.items()):
            for line in _telling_lines(daemon.log().splitlines()):
                story.screen.detail(f"{host}: {line}")
        return str(error)
    return None


def _telling_lines(lines: list[str], last: int = 4, warnings: int = 3) -> list[str]:
    """A log's last ``last`` lines, after its latest ``warnings`` WARNING/ERROR lines before
    them: the cause (a failed health check, an error) is often older than the end."""
    head, tail = lines[:-last], lines[-last:]
    flagged = [line for line in head if " WARNING " in line or " ERROR " in line]
    return flagged[-warnings:] + tail


def _summary(screen: Screen, story: Story) -> None:
    screen.line()
    lines = story.summary_lines()
    screen.line("summary" + lines[0][len("summary") :])
    for line in lines[1:]:
        screen.line(f"  {line}")
    arrow = screen.marks.arrow
    screen.line(
        f"  (no master: on the bridge, the old master's last advert {arrow} the new master's first;"
    )
    screen.line("   no replies: the longest the client waited between two ping replies)")


def _explain_kept_lab(screen: Screen, name: str, story: Story) -> None:
    lab = f"{_pycarp()} lab --name {name}"
    daemons = sorted(story.daemons.items())
    pids = ", ".join(f"{host} {daemon.pid}" for host, daemon in daemons)
    first_host, first = daemons[0]
    work = story.workdir
    text = f"""\
The lab {name!r} is still up and pycarp runs on every host (PIDs: {pids}).
Configs, logs and the bridge capture (bridge.pcap) are in {work}

Try:
  {lab} status
  {lab} exec client -- ping -c 3 198.51.100.100
  {lab} exec {first_host} -- ip addr show eth0
  tail -f {first.log_path}
  kill -9 {first.pid}    (crash {first_host}'s pycarp; plain `kill {first.pid}` stops it cleanly)
When done:
  {lab} down && rm -r {work}"""
    for line in text.splitlines():
        screen.line(line)


def _pycarp() -> str:
    """How the user can call pycarp: the command on PATH, else the one next to Python."""
    if shutil.which("pycarp"):
        return "pycarp"
    beside = pathlib.Path(sys.executable).parent / "pycarp"
    return str(beside) if beside.exists() else f"{sys.executable} -m pycarp"


def _have(program: str) -> bool:
    path = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"
    return shutil.which(program, path=path) is not None


@contextlib.contextmanager
def _terminate_as_exit() -> typing.Iterator[None]:
    """SIGTERM unwinds like Ctrl-C (so the lab is torn down); a second one is ignored."""

    def terminate(_signum: int, _frame: types.FrameType | None) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise SystemExit(EXIT_SIGTERM)

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
