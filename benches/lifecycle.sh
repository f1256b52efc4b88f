#!/usr/bin/env bash
# Whole-process figures against oslo.service's, side by side in one run on this machine:
# an idle in-process service (benches/lifecycle.py), then an idle service in 4 worker
# processes (benches/workers.py). Installs oslo.service into benches/.venv on first use
# (PyPI). The eventlet backend takes about a minute to exit on SIGTERM in process, so
# keep RUNS small.
set -euo pipefail
cd "$(dirname "$0")/.."

source benches/python-env.sh
cargo build --quiet --release --bin hello --example bench_workers
echo "oslo.service $("$venv/bin/python" -c 'from importlib.metadata import version; print(version("oslo.service"))'), ${RUNS:-3} runs each, medians:"
echo "== one service in process"
python3 benches/lifecycle.py target/release/hello "$venv/bin/python" "${RUNS:-3}"
echo "== one service in 4 worker processes"
python3 benches/workers.py target/release/examples/bench_workers "$venv/bin/python" "${RUNS:-3}"
