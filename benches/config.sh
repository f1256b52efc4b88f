#!/usr/bin/env bash
# Loading and reloading large configuration files, ours (release build) beside
# oslo.config's, in one run on this machine: files of 1,200, 12,000 and 24,000 options
# (an OpenStack service's shared file once, ten and twenty times over), medians of
# RUNS loads and reloads each. Installs oslo.service (and oslo.config) into benches/.venv
# on first use (PyPI).
set -euo pipefail
cd "$(dirname "$0")/.."

source benches/python-env.sh
cargo build --quiet --release --example bench_config
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
python3 - "$dir" <<'PY'
import sys
# [DEFAULT] holds a third of the options, as a shared OpenStack file does; the rest
# are spread over groups of 200.
for total in (1200, 12000, 24000):
    lines = ["[DEFAULT]"]
    lines += ["default_opt_%d = value %d" % (i, i) for i in range(total // 3)]
    rest = total - total // 3
    for g in range((rest + 199) // 200):
        lines.append("[group_%d]" % g)
        lines += ["opt_%d = a, list, of %d" % (i, i) for i in range(min(200, rest - 200 * g))]
    open("%s/%d.conf" % (sys.argv[1], total), "w").write("\n".join(lines) + "\n")
PY
echo "oslo.config $("$venv/bin/python" -c 'from importlib.metadata import version; print(version("oslo.config"))'), medians of ${RUNS:-9} runs, in ms:"
printf '%-10s %18s %18s %18s %18s\n' options "ours load" "oslo.config load" "ours reload" "oslo.config reload"
for total in 1200 12000 24000; do
  read -r our_load our_reload < <(target/release/examples/bench_config "$dir/$total.conf" "${RUNS:-9}")
  read -r py_load py_reload < <("$venv/bin/python" benches/py_config.py "$dir/$total.conf" "${RUNS:-9}")
  printf '%-10s %18s %18s %18s %18s   (theirs / ours: load %sx, reload %sx)\n' "$total" "$our_load" "$py_load" "$our_reload" "$py_reload" \
    "$(python3 -c "print(round($py_load / $our_load, 1))")" "$(python3 -c "print(round($py_reload / $our_reload, 1))")"
done
