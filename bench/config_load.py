"""How long does ``--config`` take to load many groups?

Writes a TOML file of ``--groups`` groups (default 10,000: vhids 1..250 on as many interfaces as
needed, 40 for 10,000), every group with its own virtual address (198.51.100.0/24 and
203.0.113.0/24 on the first two interfaces, 2001:db8::/32 on the others) and a shared
``passfile``, then loads it ``--runs`` times with :func:`pycarp.config.toml.load_config` and
prints the fastest and the median wall time. Nothing touches a network: this is parsing and
validation only.

    .venv/bin/python bench/config_load.py [--groups 10000] [--runs 5]
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import tempfile
import time

from pycarp.config.toml import load_config

VHIDS_PER_INTERFACE = 250


def group_lines(number: int, passfile: pathlib.Path) -> list[str]:
    """The ``[[group]]`` table of group ``number`` (0-based)."""
    interface, vhid = divmod(number, VHIDS_PER_INTERFACE)
    vhid += 1
    if interface == 0:
        source, address = "198.51.100.1", f"198.51.100.{vhid + 1}/24"
    elif interface == 1:
        source, address = "203.0.113.1", f"203.0.113.{vhid + 1}/24"
    else:
        source, address = f"2001:db8:{interface:x}::1", f"2001:db8:{interface:x}::{vhid + 1:x}/64"
    return [
        "[[group]]",
        f'interface = "eth{interface}"',
        f'source = "{source}"',
        f"vhid = {vhid}",
        f'passfile = "{passfile}"',
        f'addresses = ["{address}"]',
        "advskew = 100",
        "",
    ]


def write_file(folder: pathlib.Path, groups: int) -> pathlib.Path:
    passfile = folder / "secret"
    passfile.write_text("bench-secret\n")
    path = folder / "groups.toml"
    lines: list[str] = []
    for number in range(groups):
        lines += group_lines(number, passfile)
    path.write_text("\n".join(lines))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = write_file(pathlib.Path(folder), options.groups)
        size = path.stat().st_size
        times = []
        for _ in range(options.runs):
            started = time.perf_counter()
            config = load_config(path)
            times.append(time.perf_counter() - started)
            assert len(config.groups) == options.groups
    print(
        f"load_config: {options.groups} groups ({size // 1024} KiB of TOML): "
        f"best {min(times):.3f} s, median {statistics.median(times):.3f} s "
        f"over {options.runs} runs"
    )


if __name__ == "__main__":
    main()
