#!/usr/bin/env bash
# The live failover demo: builds a throwaway network-namespace lab, runs pycarp on three hosts,
# crashes a master, brings it back, stops one cleanly, and removes everything (< 1 minute).
# Installs what it needs first (scripts/setup.sh). Must run as root: the lab is made of network
# namespaces. Extra arguments go to `pycarp demo`, e.g. scripts/demo.sh --keep (see --help).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
  echo "demo.sh: needs root (it builds network namespaces and installs packages): sudo $0 $*" >&2
  exit 2
fi
scripts/setup.sh
exec .venv/bin/python -m pycarp demo "$@"
