#!/usr/bin/env bash
# A real client's load while a crowd of silent connections is held open, side by side in
# one run on this machine, for each server in one serving process:
#   1. oslo.service's wsgi.Server (eventlet, 1 worker process), benches/py_http.py
#   2. plain axum, no framework (benches/bench_axum.rs)
#   3. ours: oslo::wsgi::Server in process (benches/bench_http.rs, [bench] workers = 1)
# For each: $wrk -t2 -c50 for DURATION seconds (default 5) with no crowd, then CROWD
# silent connections (default 10000, benches/silent_crowd.py) are opened and wrk runs
# again; printed: req/s and p99 both times, the share of req/s kept, the server's RSS
# growth per silent connection, and how many of the crowd got in. Fetches wrk
# (Debian's, pinned) by benches/wrk.sh; installs oslo.service into benches/.venv on
# first use. Raises its descriptor limit so that the crowd can be held (as root, or
# within the hard limit).
set -euo pipefail
cd "$(dirname "$0")/.."

source benches/wrk.sh
source benches/python-env.sh
cargo build --quiet --release --example bench_http --example bench_axum
duration=${DURATION:-5}
crowd=${CROWD:-10000}
ulimit -n "$(( crowd * 2 + 1024 ))" 2>/dev/null || ulimit -n "$(ulimit -Hn)"
tmp=$(mktemp -d)
server=""
holder=""
cleanup() {
  [ -n "$holder" ] && kill -KILL "$holder" 2>/dev/null || true
  [ -n "$server" ] && kill -KILL -- "-$server" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

printf '[DEFAULT]\ndefault_log_levels = oslo::wsgi::access=WARN,oslo::wsgi::clients=WARN\n[bench]\nworkers = 1\n' > "$tmp/bench.conf"

source benches/server.sh

# Stops the crowd, then the server.
stop_all() {
  [ -n "$holder" ] && kill -KILL "$holder" 2>/dev/null || true
  wait "$holder" 2>/dev/null || true
  holder=""
  stop
}

# The resident memory of the server's whole process group, in KiB.
rss() {
  local total=0
  for pid in $(pgrep -g "$server"); do
    total=$(( total + $(awk '/^VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0) ))
  done
  echo "$total"
}

# req/s and p99 (ms) of one wrk run.
measure() {
  $wrk -t2 -c50 -d"${duration}s" --latency "http://127.0.0.1:$port/" > "$tmp/wrk" || true
  python3 - "$tmp/wrk" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
def ms(value):
    number, unit = re.match(r"([\d.]+)(\w+)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[unit]
rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
p99 = re.search(r"\s99%\s+(\S+)", text)
print(f"{float(rps.group(1)) if rps else 0:.0f} {ms(p99.group(1)) if p99 else float('nan'):.2f}")
PY
}

run() {
  local label=$1
  shift
  start "$@"
  read -r rps_before p99_before < <(measure)
  local rss_before
  rss_before=$(rss)
  python3 benches/silent_crowd.py "$port" "$crowd" > "$tmp/crowd" &
  holder=$!
  for _ in $(seq 600); do grep -q '^open' "$tmp/crowd" && break; sleep 0.1; done
  local opened
  opened=$(sed -n 's/^open \([0-9]*\)$/\1/p' "$tmp/crowd")
  sleep 1
  local rss_after
  rss_after=$(rss)
  read -r rps_after p99_after < <(measure)
  python3 - "$label" "$rps_before" "$p99_before" "$rps_after" "$p99_after" "$rss_before" "$rss_after" "${opened:-0}" <<'PY'
import sys
label, rb, pb, ra, pa, sb, sa, opened = sys.argv[1:]
rb, pb, ra, pa, sb, sa, opened = float(rb), float(pb), float(ra), float(pa), int(sb), int(sa), int(opened)
kept = 100 * ra / rb if rb else 0
per = (sa - sb) * 1024 / opened if opened else float("nan")
print(f"{label:<22} {rb:>9.0f} {pb:>8.2f} {ra:>9.0f} {pa:>8.2f} {kept:>6.1f}% {per:>9.0f} {opened:>7}")
PY
  stop_all
}

echo "wrk -t2 -c50 -d${duration}s, before and with $crowd silent connections open; $(nproc) cores"
printf '%-22s %9s %8s %9s %8s %7s %9s %7s\n' server "req/s" "p99 ms" "req/s" "p99 ms" kept "B/conn" crowd
run "oslo.service eventlet" env WORKERS=1 "$venv/bin/python" benches/py_http.py
run "axum (plain)" target/release/examples/bench_axum
run "ours" target/release/examples/bench_http --config-file "$tmp/bench.conf"
