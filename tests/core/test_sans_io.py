"""pycarp.core stays sans-I/O: it imports the standard library and itself, nothing else.

Checked on the source (every ``import`` statement, also inside functions), not by importing, so
a forbidden import in a rarely used branch is caught too. A few stdlib modules that would let
the core do I/O or read the clock behind the caller's back are refused as well.
"""

from __future__ import annotations

import ast
import pathlib
import sys

import pytest

import pycarp.core

CORE = pathlib.Path(pycarp.core.__file__).resolve().parent
MODULES = sorted(CORE.glob("*.py"))
NO_IO = {"socket", "asyncio", "time", "random", "logging", "subprocess", "os", "select"}


def _imports(path: pathlib.Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path.name}: relative import"
            assert node.module is not None
            names.append(node.module)
    return names


def test_the_core_has_modules() -> None:
    assert {p.stem for p in MODULES} >= {"wire", "auth", "timing", "election", "machine", "host"}


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_core_imports_only_the_standard_library_and_itself(path: pathlib.Path) -> None:
    for name in _imports(path):
        top = name.split(".")[0]
        if name == "pycarp.core" or name.startswith("pycarp.core."):
            continue
        assert top in sys.stdlib_module_names, f"{path.name} imports {name}"
        assert top not in NO_IO, f"{path.name} imports {name}: the core must stay sans-I/O"
