"""The test vectors' provenance names what was captured and how, never where on a build machine:
no absolute path (``/home/...``, ``/tmp/...``, ``/work/...``) in the notes beside the vectors."""

from __future__ import annotations

import pathlib
import re

VECTORS = pathlib.Path(__file__).parent / "vectors"
# A path from the root: a slash not preceded by a word, a dot, a slash or a colon (URLs, a/b).
ABSOLUTE_PATH = re.compile(r"(?<![\w./:~-])/[\w.-]+/[\w./-]*")


def absolute_paths(text: str) -> list[str]:
    return ABSOLUTE_PATH.findall(text)


def test_the_pattern_finds_absolute_paths_and_only_those() -> None:
    assert absolute_paths("copied from /work/shared/captures/ucarp") == [
        "/work/shared/captures/ucarp"
    ]
    assert absolute_paths("see `/tmp/x/y.pcap`") == ["/tmp/x/y.pcap"]
    assert absolute_paths("`tests/core/test_wire.py` and https://example.org/a/b") == []
    assert absolute_paths("and/or, 1/256 s") == []


def test_the_notes_beside_the_vectors_name_no_absolute_path() -> None:
    notes = sorted(VECTORS.rglob("*.md"))
    assert {"PROVENANCE.md", "README.md"} <= {p.name for p in notes}
    found = {
        str(p.relative_to(VECTORS)): paths
        for p in notes
        if (paths := absolute_paths(p.read_text("utf-8")))
    }
    assert found == {}
