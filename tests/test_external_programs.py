"""Every program the code runs is installed by scripts/setup.sh (a fresh machine goes green).

The source of ``src/pycarp``, ``tests`` and ``bench`` is read with :mod:`ast` (nothing runs): an
argv whose first element is a string literal, given to a subprocess function or to one of the
lab's runners (``lab.exec``/``lab.popen``, ``namespaces.run``/``run_in``/``exec_argv``,
``ip_batch``), names a program. Argvs built in a variable first (``argv = [...]``, ``[*argv,
...]``, ``argv + [...]``, ``for command in ([...], ...)``) are followed, and so are the wrappers
that run a program inside a namespace (``ip netns exec NS prog ...``, ``exec_argv(NS, [...])``):
the program is the one run in the namespace (and ``ip``).

Shell scripts the code writes (ucarp up/down scripts, test hooks) are text, not argvs: they are
not read here, and use only ``ip``, ``python3``, ``sleep`` and shell built-ins.

Each program found must be one of setup.sh's ``prog:package`` pairs or part of the small base
every Debian system has (:data:`BASE`). A new program used without a setup.sh entry fails here,
before a fresh machine finds out. As root (where setup.sh can install), the programs must also
really be there.
"""

from __future__ import annotations

import ast
import functools
import os
import pathlib
import re
import shutil
import subprocess
import textwrap
from collections.abc import Iterator

import pytest

from pycarp.lab import Lab, LabError, MissingProgram, programs
from pycarp.lab.naming import LabNames
from pycarp.lab.programs import PACKAGES, SYSTEM_PATH, check_status, require

REPO = pathlib.Path(__file__).resolve().parents[1]
SETUP = REPO / "scripts" / "setup.sh"
SCANNED = ("src/pycarp", "tests", "bench")

# Programs every Debian system has, so setup.sh need not install them (each with the reason).
BASE = {
    "python3": "setup.sh needs it to run at all; the code runs sys.executable (the venv's)",
    "sh": "/bin/sh is dash, an Essential package (cannot be missing on Debian)",
    "cat": "coreutils, an Essential package",
    "sleep": "coreutils, an Essential package",
    "true": "coreutils, an Essential package",
}

# Calls that run an argv, by the called name: the position of the argv among the arguments.
ARGV_AT = {
    "run": 0,  # subprocess.run, namespaces.run
    "Popen": 0,
    "call": 0,
    "check_call": 0,
    "check_output": 0,
    "exec": 1,  # lab.exec(node, argv)
    "popen": 1,  # lab.popen(node, argv)
    "run_in": 1,  # namespaces.run_in(namespace, argv)
    "exec_argv": 1,  # namespaces.exec_argv(namespace, argv)
    "execv": 1,
    "execvp": 1,
    "execvpe": 1,
}
# Calls whose first argument is the program itself (not a list).
PROGRAM_AT = {"create_subprocess_exec": 0, "spawnlp": 1, "execlp": 0}
# Calls that run a fixed program.
# ``check_argv``'s argv is not run by the caller but by a daemon's health track (a config value).
IMPLIED = {"ip_batch": "ip", "check_argv": "curl"}
NETNS_EXEC = ["ip", "netns", "exec"]  # followed by the namespace, then the program


def _called_name(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    if isinstance(call.func, ast.Name):
        return call.func.id
    return None


class _Scanner:
    """The programs run by one module, with the line of each run."""

    def __init__(self, tree: ast.Module) -> None:
        self.module_names = self._assignments(tree.body, nested=False)
        self.found: list[tuple[str, int]] = []
        self._visit(tree, self.module_names)

    @staticmethod
    def _assignments(body: list[ast.stmt], *, nested: bool = True) -> dict[str, list[ast.expr]]:
        """Name -> the expressions assigned to it (``for x in (a, b)`` counts as a and b)."""
        names: dict[str, list[ast.expr]] = {}
        nodes = (n for stmt in body for n in ast.walk(stmt)) if nested else iter(body)
        for node in nodes:
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        names.setdefault(target.id, []).append(node.value)
            elif isinstance(node, ast.AnnAssign) and node.value is not None:
                if isinstance(node.target, ast.Name):
                    names.setdefault(node.target.id, []).append(node.value)
            elif (
                isinstance(node, ast.For)
                and isinstance(node.target, ast.Name)
                and isinstance(node.iter, ast.Tuple | ast.List)
            ):
                names.setdefault(node.target.id, []).extend(node.iter.elts)
        return names

    def _visit(self, node: ast.AST, names: dict[str, list[ast.expr]]) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            local = self._assignments(node.body)
            names = {**self.module_names, **local}
        if isinstance(node, ast.Call):
            for program in self._programs_of_call(node, names, set()):
                self.found.append((program, node.lineno))
        for child in ast.iter_child_nodes(node):
            self._visit(child, names)

    def _programs_of_call(
        self, call: ast.Call, names: dict[str, list[ast.expr]], seen: set[str]
    ) -> list[str]:
        called = _called_name(call)
        if called in IMPLIED:
            return [IMPLIED[called]]
        if called in PROGRAM_AT and len(call.args) > PROGRAM_AT[called]:
            first = call.args[PROGRAM_AT[called]]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                return [first.value]
            return []
        if called in ARGV_AT and len(call.args) > ARGV_AT[called]:
            return self._programs_of_argv(call.args[ARGV_AT[called]], names, seen)
        return []

    def _programs_of_argv(
        self, expr: ast.expr, names: dict[str, list[ast.expr]], seen: set[str]
    ) -> list[str]:
        """The program(s) an argv expression starts with, as far as the source tells."""
        if isinstance(expr, ast.List | ast.Tuple):
            return self._programs_of_elements(expr.elts, names, seen)
        if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Add):
            return self._programs_of_argv(expr.left, names, seen)
        if isinstance(expr, ast.Name) and expr.id not in seen:
            return [
                program
                for value in names.get(expr.id, [])
                for program in self._programs_of_argv(value, names, seen | {expr.id})
            ]
        if isinstance(expr, ast.Call):
            if _called_name(expr) == "list" and expr.args:
                return self._programs_of_argv(expr.args[0], names, seen)
            return self._programs_of_call(expr, names, seen)
        return []  # a parameter, sys.executable, ...: not a named program

    def _programs_of_elements(
        self, elements: list[ast.expr], names: dict[str, list[ast.expr]], seen: set[str]
    ) -> list[str]:
        if not elements:
            return []
        first = elements[0]
        if isinstance(first, ast.Starred):
            return self._programs_of_argv(first.value, names, seen)
        if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
            return []
        words = [e.value if isinstance(e, ast.Constant) else None for e in elements[:3]]
        if words == NETNS_EXEC and len(elements) > 4:
            return ["ip", *self._programs_of_elements(elements[4:], names, seen)]
        return [first.value]


def programs_in_source(source: str) -> list[tuple[str, int]]:
    """(program, line) for every program the module's code runs."""
    return _Scanner(ast.parse(source)).found


def _python_files() -> Iterator[pathlib.Path]:
    for top in SCANNED:
        yield from sorted((REPO / top).rglob("*.py"))


@functools.cache
def used_programs() -> dict[str, list[str]]:
    """Program -> where it is run (``path:line``), over src/pycarp, tests and bench."""
    used: dict[str, list[str]] = {}
    for path in _python_files():
        for program, line in sorted(set(programs_in_source(path.read_text(encoding="utf-8")))):
            used.setdefault(program, []).append(f"{path.relative_to(REPO)}:{line}")
    return used


def setup_pairs(text: str | None = None) -> dict[str, str]:
    """setup.sh's ``for pair in prog:package ...`` list, as program -> package."""
    script = SETUP.read_text(encoding="utf-8") if text is None else text
    match = re.search(r"^for pair in (.*?); do$", script, re.MULTILINE | re.DOTALL)
    assert match, "setup.sh has no `for pair in prog:package ...; do` loop"
    words = match.group(1).replace("\\\n", " ").split()
    assert all(word.count(":") == 1 for word in words), words
    return dict(word.split(":") for word in words)


def not_provided(used: dict[str, list[str]], pairs: dict[str, str]) -> dict[str, list[str]]:
    return {
        program: where
        for program, where in used.items()
        if program not in pairs and program not in BASE
    }


def test_every_program_the_code_runs_is_installed_by_setup() -> None:
    missing = not_provided(used_programs(), setup_pairs())
    assert not missing, (
        "programs run by the code but not installed by scripts/setup.sh; add `prog:package` to "
        "its `for pair in` loop and to PACKAGES in src/pycarp/lab/programs.py (or, if every "
        "Debian system has it, to BASE here, with the reason):\n"
        + "\n".join(f"  {program}: {', '.join(where)}" for program, where in missing.items())
    )


def test_setup_installs_only_programs_the_code_runs() -> None:
    """Also keeps the scan honest: if it stopped seeing how programs are run, this fails."""
    unused = sorted(set(setup_pairs()) - set(used_programs()))
    assert not unused, f"setup.sh installs programs nothing runs (or the scan misses it): {unused}"


def test_the_labs_package_table_is_setups() -> None:
    """MissingProgram names the package setup.sh would install."""
    assert setup_pairs() == PACKAGES


def test_the_scan_finds_every_way_the_code_runs_a_program() -> None:
    source = textwrap.dedent(
        """
        import asyncio, subprocess
        TOOL = ["tool0", "-v"]
        def f(lab, ns, hosts):
            lab.exec("h1", ["tool1", "-c", "1"])
            argv = ["tool2", "-x"]
            argv += ["-y"]
            lab.popen("h1", [*argv, "z"], stdout=None)
            subprocess.run(["tool3"] + hosts, check=True)
            subprocess.check_output(TOOL)
            namespaces.run(namespaces.exec_argv(ns, ["tool4", "-f", "-"]))
            namespaces.run_in(ns, ["tool5"])
            subprocess.run(["ip", "netns", "exec", ns, "tool6", "arg"])
            for command in (["tool7", "a"], ["tool8", "b"]):
                lab.exec("h2", command, check=True)
            ip_batch(ns, ["link set lo up"])
            asyncio.create_subprocess_exec("tool9", "arg")
            lab.exec("h1", [sys.executable, "-m", "pycarp"])
            lab.exec("h1", hosts)
            asyncio.run(main())
        """
    )
    found = sorted({program for program, _line in programs_in_source(source)})
    assert found == ["ip", *(f"tool{n}" for n in range(10))]


def test_a_program_without_a_setup_entry_is_reported() -> None:
    used = {"tcpdump": ["a.py:1"], "sleep": ["b.py:2"], "frobnicate": ["c.py:3"]}
    pairs = setup_pairs("for pair in ip:iproute2 \\\n  tcpdump:tcpdump; do\n")
    assert pairs == {"ip": "iproute2", "tcpdump": "tcpdump"}
    assert not_provided(used, pairs) == {"frobnicate": ["c.py:3"]}


def test_the_programs_setup_installs_are_installed_here() -> None:
    if os.geteuid() != 0:
        pytest.skip("not root: scripts/setup.sh can only install Debian packages as root")
    search = os.environ.get("PATH", "") + os.pathsep + SYSTEM_PATH
    absent = {
        program: package
        for program, package in setup_pairs().items()
        if shutil.which(program, path=search) is None
    }
    assert not absent, f"run scripts/setup.sh (as root): missing {absent}"
    arping = shutil.which("arping", path=search)
    assert arping is not None
    said = subprocess.run([arping, "-V"], capture_output=True, text=True, check=False)
    assert "iputils" not in said.stdout + said.stderr, (
        "arping is iputils' arping; the tests need Thomas Habets' (Debian package arping): "
        "run scripts/setup.sh"
    )


def test_a_missing_program_is_an_error_naming_its_debian_package(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(programs, "SYSTEM_PATH", str(tmp_path))
    nowhere = {"PATH": str(tmp_path)}
    with pytest.raises(MissingProgram, match=r"^arping is not installed \(Debian package arping\)"):
        require("arping", nowhere)
    with pytest.raises(MissingProgram, match=r"^no-such-program is not installed"):
        require("no-such-program", nowhere)
    (tmp_path / "sbin").mkdir()
    hidden = tmp_path / "sbin" / "ucarp"
    hidden.write_text("#!/bin/sh\n")
    hidden.chmod(0o755)
    monkeypatch.setattr(programs, "SYSTEM_PATH", str(tmp_path / "sbin"))
    with pytest.raises(MissingProgram, match=re.escape(f"installed as {hidden} but not on PATH")):
        require("ucarp", nowhere)
    assert require("ucarp", {"PATH": str(tmp_path / "sbin")}) == str(hidden)


def test_the_lab_checks_the_program_before_running_anything() -> None:
    """Through ``ip netns exec`` a missing program would only be an exit status."""
    lab = Lab(LabNames("nolab"), ["h1"])  # never built: nothing may run
    missing = "no-such-program"  # a name, not a literal: the scan above leaves it alone
    with pytest.raises(MissingProgram, match=missing):
        lab.exec("h1", [missing, "-x"])
    with pytest.raises(MissingProgram, match=missing):
        lab.popen("h1", [missing])


def test_an_unexpected_exit_status_is_an_error_with_what_the_program_said() -> None:
    done = subprocess.CompletedProcess(["ping", "-c", "1", "x"], 2, "", "ping: x: unknown host\n")
    with pytest.raises(LabError, match=r"^ping -c 1 x failed \(2\): ping: x: unknown host$"):
        check_status(done, (0, 1))
    no_reply = subprocess.CompletedProcess(["ping"], 1, "1 packets transmitted, 0 received", "")
    assert check_status(no_reply, (0, 1)) is no_reply
