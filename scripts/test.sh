#!/usr/bin/env bash
# The full test suite: lint (ruff), types (mypy --strict), then pytest (unit, simulator,
# runtime, real-kernel network-namespace tests and live interop with ucarp when root).
# Extra arguments go to pytest, e.g. scripts/test.sh -k wire -x
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
echo "== ruff" && .venv/bin/ruff check src tests bench
echo "== ruff format --check" && .venv/bin/ruff format --check src tests bench
echo "== mypy --strict" && .venv/bin/mypy
echo "== pytest"
exec .venv/bin/python -m pytest -p no:cacheprovider "$@"
