#!/usr/bin/env bash
# Install everything pycarp's demo, tests and benchmarks need on a fresh Debian machine (run as
# root): Debian packages (iproute2, nftables, ucarp, tshark, arping, ...) and a virtualenv in .venv.
# Idempotent and quick when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"  # ucarp, keepalived, arping live in sbin

need_apt=()
# program:package for every program the lab, demo, tests and bench run (nothing is compiled).
# Keep in step with PACKAGES in src/pycarp/lab/programs.py; tests/test_external_programs.py
# fails when a program is used but not listed here.
for pair in ip:iproute2 setpriv:util-linux nft:nftables ucarp:ucarp tshark:tshark tcpdump:tcpdump ping:iputils-ping \
  keepalived:keepalived arping:arping curl:curl taskset:util-linux systemd-analyze:systemd; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || need_apt+=("${pair#*:}")
done
# The tests need Thomas Habets' arping (package arping); iputils-arping installs another
# program of the same name (other options and output) and conflicts with it: replace it.
case "$(arping -V 2>&1 || true)" in
  *iputils*) need_apt+=(arping) ;;
esac
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need_apt+=(python3-venv python3-pip)
if [ "${#need_apt[@]}" -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "setup: installing Debian packages: ${need_apt[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  else
    echo "setup: not root, cannot install ${need_apt[*]} (tests that need them will say so)" >&2
  fi
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv" >&2
  python3 -m venv .venv
fi
stamp=.venv/.pycarp-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "setup: installing pycarp and its dev tools into .venv" >&2
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  .venv/bin/python -m pip install -q -e '.[dev]'
  touch "$stamp"
fi
