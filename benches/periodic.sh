#!/usr/bin/env bash
# The periodic-task scheduler against oslo.service's, side by side in one run on this
# machine: cost of one tick with one due task among 0, 100 and 10 000 idle tasks.
# Installs oslo.service into benches/.venv on first use (PyPI).
set -euo pipefail
cd "$(dirname "$0")/.."

source benches/python-env.sh

echo "== Rust (divan, median of 100 samples)"
cargo bench --quiet -p oslo-service --bench periodic 2>/dev/null
echo "== Python oslo.service $("$venv/bin/python" -c 'from importlib.metadata import version; print(version("oslo.service"))')"
"$venv/bin/python" benches/periodic_python.py 0 100 10000
