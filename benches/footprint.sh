#!/usr/bin/env bash
# The footprint of an idle 4-worker service built as a user's crate builds it
# (benches/footprint: the default release profile, no LTO), side by side with
# oslo.service's in one run: the release binary's size, then the parent's RSS and a
# worker's RSS, PSS and private memory (benches/workers.py), for the service built
# with none of oslo-service's optional wings and with all of them.
#
#     benches/footprint.sh            # RUNS=3 by default
#
# Installs oslo.service into benches/.venv on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/python-env.sh

manifest=benches/footprint/Cargo.toml
# The framework's lock file, so that both builds use the versions its tests use.
cp Cargo.lock benches/footprint/Cargo.lock
export CARGO_TARGET_DIR=target/footprint
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

cargo build --quiet --release --manifest-path "$manifest"
cp "$CARGO_TARGET_DIR/release/footprint" "$out/minimal"
cargo build --quiet --release --manifest-path "$manifest" --features all-wings
cp "$CARGO_TARGET_DIR/release/footprint" "$out/all-wings"

echo "release binary (default profile, no LTO):"
for build in minimal all-wings; do
  printf '  %-10s %6.2f MB\n' "$build" "$(stat -c %s "$out/$build" | awk '{ print $1 / 1048576 }')"
done
echo
python3 benches/workers.py "$out/minimal" "$venv/bin/python" "${RUNS:-3}" "all wings=$out/all-wings"
