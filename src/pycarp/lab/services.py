"""A service for health tracks to check: a tiny web server per lab host, its check, a client.

Health tracks (docs/behaviour.md, "Health tracks") make the address follow a *service*, so the
lab needs one that can die while its host and its daemon stay up. ``python3 -m http.server`` is
that service: it is in every Python, binds inside the host's namespace (all its addresses, so
it also answers on the virtual address once the host holds it) and is killed by its PID.

The check is the program a user would write: ``curl`` with a timeout and no proxy. The client
asks from inside the client's namespace in this process (:meth:`Lab.inside`): a request costs a
socket, not an interpreter start, which is what lets a benchmark time the first answer to a few
milliseconds.
"""

from __future__ import annotations

import pathlib
import subprocess
import time
import typing
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence

from pycarp.lab.daemons import _toml_value, wait_for
from pycarp.lab.naming import LabError

if typing.TYPE_CHECKING:
    from pycarp.lab.lab import Lab

WEB_PORT = 8080
PAGE = "pycarp-lab"  # the body each server answers with, followed by the host's name
# The check a track runs: curl, as a user would write it; exit 0 if the page answers (2xx or
# 3xx) within the timeout. Not a python3 one-liner: an interpreter start with urllib took 0.2 s
# on an idle 2-core machine and more than 0.4 s (the demo's timeout) under load, which failed
# healthy checks and moved addresses; curl starts in ~20 ms.
CHECK_PROGRAM = "curl"
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def url(address: str, port: int = WEB_PORT) -> str:
    return f"http://{address}:{port}/"


def check_argv(address: str, timeout: float, port: int = WEB_PORT) -> list[str]:
    """A track's ``script``: GET ``address``'s page within ``timeout`` seconds (no shell, no
    proxy, the body thrown away; an HTTP error status fails)."""
    return [
        CHECK_PROGRAM,
        "--silent",
        "--fail",
        "--noproxy",
        "*",
        "--max-time",
        f"{timeout:g}",
        "--output",
        "/dev/null",
        url(address, port),
    ]


def start_web(
    lab: Lab, node: str, workdir: pathlib.Path, *, port: int = WEB_PORT, timeout: float = 10.0
) -> subprocess.Popen[bytes]:
    """``python3 -m http.server`` on every address of ``node``'s namespace, serving a page that
    names the node; returns once it answers on the node's own address (LabError if not within
    ``timeout``). The lab ends it at teardown; a test kills it earlier by its PID."""
    root = workdir / f"www-{node}"
    root.mkdir(exist_ok=True)
    (root / "index.html").write_text(f"{PAGE} {node}\n")
    every = "0.0.0.0"  # noqa: S104 - inside the node's namespace: its lab addresses only
    process = lab.popen(
        node,
        ["python3", "-m", "http.server", "--bind", every, str(port), "--directory", str(root)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    own = str(lab.ipv4(node).ip)

    def answers() -> bool:
        if process.poll() is not None:
            raise LabError(f"the web server on {node} exited ({process.returncode})")
        return get(lab, node, own, port=port, timeout=0.5) is not None

    wait_for(answers, timeout, interval=0.05)
    return process


def kill_web(process: subprocess.Popen[bytes]) -> float:
    """kill -9 the web server (by PID) and reap it; returns the wall time of the kill."""
    killed_at = time.time()
    process.kill()
    process.wait(timeout=5)
    return killed_at


def get(
    lab: Lab, node: str, address: str, *, port: int = WEB_PORT, timeout: float = 1.0
) -> str | None:
    """The page at ``address`` fetched from inside ``node``'s namespace, or None if it did not
    answer within ``timeout`` (refused, unreachable, timed out)."""
    with lab.inside(node):
        try:
            with _NO_PROXY.open(url(address, port), timeout=timeout) as reply:
                body: bytes = reply.read()
                return body.decode(errors="replace").strip()
        except (OSError, urllib.error.URLError):
            return None


def first_answer(
    lab: Lab,
    node: str,
    address: str,
    *,
    within: float,
    expect: str,
    pause: float = 0.01,
    timeout: float = 0.1,
) -> float:
    """Wall time of the first request from ``node`` that gets a page containing ``expect``;
    requests are spaced ``pause`` apart and stop after ``within`` seconds (LabError).

    Each request gives up after ``timeout``: a lab round trip is well under a millisecond, and
    a request sent to the old holder just as it lets the address go must not hide, for a long
    timeout, the new holder answering."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        body = get(lab, node, address, timeout=timeout)
        if body is not None and expect in body:
            return time.time()
        time.sleep(pause)
    raise LabError(f"no answer with {expect!r} from {address} within {within:g} s")


def write_tracked_config(
    path: pathlib.Path,
    groups: Sequence[Mapping[str, object]],
    tracks: Sequence[Mapping[str, object]],
) -> pathlib.Path:
    """A pycarp TOML file with one ``[[track]]`` per track and one ``[[group]]`` per group."""
    lines: list[str] = []
    for kind, tables in (("track", tracks), ("group", groups)):
        for table in tables:
            lines.append(f"[[{kind}]]")
            lines += [f"{key} = {_value(value)}" for key, value in table.items()]
            lines.append("")
    path.write_text("\n".join(lines))
    return path


def _value(value: object) -> str:
    """TOML for a float too (the groups' writer has no floats: advbase is whole seconds)."""
    return repr(value) if isinstance(value, float) else _toml_value(value)
