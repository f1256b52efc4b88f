#!/usr/bin/env bash
# Whole-process figures of an idle service against oslo.service's, side by side in one
# run on this machine. Installs oslo.service into benches/.venv on first use (PyPI).
# The eventlet backend takes about a minute to exit on SIGTERM, so keep RUNS small.
set -euo pipefail
cd "$(dirname "$0")/.."

source benches/python-env.sh
cargo build --quiet --release --bin hello
echo "oslo.service $("$venv/bin/python" -c 'from importlib.metadata import version; print(version("oslo.service"))'), ${RUNS:-3} runs each, medians:"
python3 benches/lifecycle.py target/release/hello "$venv/bin/python" "${RUNS:-3}"
