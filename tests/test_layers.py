"""The layering rules, checked on the syntax tree of every module of ``pycarp``.

The layers, lowest first (docs/design.md §1; a package may import its own layer and those below,
never one above):

0. ``core``: the sans-I/O protocol. It imports the standard library and ``pycarp.core`` only.
1. ``config`` (validated configuration), ``observe`` (the typed event stream and its
   consumers), ``pcap`` (a capture-file reader): they build on the core's types.
2. ``platform``: the thin adapters to Linux (raw sockets, rtnetlink, ARP/NA).
3. ``runtime`` (the asyncio daemon) and ``control`` (the control socket's protocol, server and
   client): they drive the core through the platform and report through observe.
4. ``lab``, ``sim``, ``watch``, ``demo``, ``cli`` (and ``__main__``): the tools on top.

Besides: ``pyroute2`` is imported by ``pycarp.platform.netlink`` and by no other module, so the
rest of pycarp never sees its types. Every import counts, also one inside a function or under
``typing.TYPE_CHECKING``: a lazy import is still a dependency. A new top-level package must be
given a layer here before its first import passes.
"""

from __future__ import annotations

import ast
import pathlib
import sys

import pycarp

LAYERS = {
    "core": 0,
    "config": 1,
    "observe": 1,
    "pcap": 1,
    "platform": 2,
    "runtime": 3,
    "control": 3,
    "lab": 4,
    "sim": 4,
    "watch": 4,
    "demo": 4,
    "cli": 4,
    "__main__": 4,
}
NETLINK_MODULE = "pycarp.platform.netlink"
ROOT = pathlib.Path(pycarp.__file__).parent


def imported_modules(
    module: str, source: str, *, is_package: bool = False
) -> list[tuple[int, str]]:
    """``(line, dotted name)`` of every import in ``source``; relative ones made absolute."""
    here = module.split(".") if is_package else module.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = here[: len(here) - node.level + 1] if node.level else []
            name = ".".join([*base, *([node.module] if node.module else [])])
            if node.module is None:  # from . import a, b: each is a module of the package
                found += [(node.lineno, f"{name}.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, name))
    return found


def layer_of(module: str) -> int | None:
    """The layer of a ``pycarp`` module; None for the package itself (``import pycarp``)."""
    parts = module.split(".")
    if len(parts) == 1:
        return None
    return LAYERS.get(parts[1], -1)


def violations(module: str, source: str, *, is_package: bool = False) -> list[str]:
    """Every import of ``module`` (dotted, ``pycarp.x.y``) that breaks a layering rule."""
    own = layer_of(module)
    if own == -1:
        return [f"{module}: package {module.split('.')[1]!r} has no layer in LAYERS"]
    found = []
    for line, name in imported_modules(module, source, is_package=is_package):
        top = name.split(".")[0]
        where = f"{module} line {line}: imports {name}"
        if top == "pyroute2" and module != NETLINK_MODULE:
            found.append(f"{where} (pyroute2 only in {NETLINK_MODULE})")
        if own == 0 and not (top in sys.stdlib_module_names or name.startswith("pycarp.core")):
            found.append(f"{where} (the core imports the standard library and pycarp.core only)")
        if top == "pycarp":
            theirs = layer_of(name)
            if own is not None and theirs is not None and theirs > own:
                found.append(f"{where} (layer {theirs} above its own layer {own})")
    return found


def modules() -> list[tuple[str, pathlib.Path]]:
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        found.append((".".join(parts), path))
    return found


def test_every_module_keeps_the_layering_rules() -> None:
    found = modules()
    assert len(found) > 50, "the scan must see the whole package"
    broken = [
        problem
        for module, path in found
        for problem in violations(
            module.removesuffix(".__init__"),
            path.read_text(encoding="utf-8"),
            is_package=path.name == "__init__.py",
        )
    ]
    assert broken == []


def test_pyroute2_is_imported_where_it_is_allowed() -> None:
    """The rule is not vacuous: the netlink adapter does import pyroute2."""
    source = (ROOT / "platform" / "netlink.py").read_text(encoding="utf-8")
    assert any(name.startswith("pyroute2") for _, name in imported_modules(NETLINK_MODULE, source))


# -- the checker on synthetic modules: each rule fails on a violation --------------------------


def test_pyroute2_outside_netlink_is_a_violation() -> None:
    assert violations("pycarp.platform.rawsock", "import pyroute2\n")
    assert violations("pycarp.runtime.driver", "def f():\n    from pyroute2 import IPRoute\n")
    assert violations(NETLINK_MODULE, "from pyroute2.netlink import nlmsg\n") == []


def test_the_core_imports_only_the_standard_library_and_itself() -> None:
    assert violations("pycarp.core.machine", "import asyncio\nfrom pycarp.core import wire\n") == []
    assert violations("pycarp.core.machine", "import prometheus_client\n")
    assert violations("pycarp.core.machine", "from pycarp.observe import facts\n")
    assert violations("pycarp.core.machine", "from ..config import model\n")
    assert violations("pycarp.core.machine", "from . import wire\n") == []


def test_an_upward_import_is_a_violation_a_downward_one_is_not() -> None:
    assert violations("pycarp.config.build", "from pycarp.platform.ports import Platform\n")
    assert violations("pycarp.platform.rawsock", "from pycarp.runtime import driver\n")
    assert violations("pycarp.runtime.driver", "from pycarp.cli import main\n")
    typed = "import typing\nif typing.TYPE_CHECKING:\n    from pycarp.lab import Lab\n"
    assert violations("pycarp.observe.facts", typed)
    assert violations("pycarp.cli.run", "from pycarp.runtime import daemon\n") == []
    assert violations("pycarp.runtime.daemon", "from pycarp.control import server\n") == []
    assert violations("pycarp.runtime.daemon", "import pycarp\n") == []


def test_a_package_without_a_layer_is_a_violation() -> None:
    assert violations("pycarp.newthing.x", "import os\n")


def test_relative_imports_are_resolved_against_the_package() -> None:
    assert imported_modules("pycarp.core.machine", "from .wire import decode\n") == [
        (1, "pycarp.core.wire")
    ]
    assert imported_modules("pycarp.core", "from . import wire\n", is_package=True) == [
        (1, "pycarp.core.wire")
    ]
    assert imported_modules("pycarp.core.machine", "from .. import pcap\n") == [(1, "pycarp.pcap")]
