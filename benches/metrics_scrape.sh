#!/usr/bin/env bash
# The cost of one scrape of a host: the HTTP bench server (benches/bench_http.rs) with
# WORKERS worker processes (default 64) and `[metrics] enabled`, under no load, then
# SCRAPES scrapes (default 200) of its endpoint one after the other, each timed from
# connect to the last byte. Prints the median, p90 and p99 in ms, and the size of one
# exposition. The goal: a 64-worker scrape under 50 ms.
set -euo pipefail
cd "$(dirname "$0")/.."

workers=${WORKERS:-64}
scrapes=${SCRAPES:-200}
cargo build --quiet --release --example bench_http
tmp=$(mktemp -d)
server=""
cleanup() {
  [ -n "$server" ] && kill -KILL -- "-$server" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

cat > "$tmp/bench.conf" <<CONF
[DEFAULT]
default_log_levels = oslo::wsgi::access=WARN
[bench]
workers = $workers
[metrics]
enabled = true
port = 0
CONF
setsid target/release/examples/bench_http --config-file "$tmp/bench.conf" > "$tmp/out" 2> "$tmp/err" &
server=$!
for _ in $(seq 600); do
  grep -q "all workers ready" "$tmp/err" && break
  sleep 0.1
done
grep -q "all workers ready" "$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
metrics=$(sed -n 's|.*serving metrics at http://127.0.0.1:\([0-9]*\)/metrics.*|\1|p' "$tmp/err" | head -1)
python3 - "$metrics" "$scrapes" "$workers" <<'PY'
import statistics, sys, time, urllib.request
port, scrapes, workers = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
# Asked as Prometheus asks: OpenMetrics (a client that asks nothing gets the text
# format 0.0.4, of about the same size).
url = urllib.request.Request(
    f"http://127.0.0.1:{port}/metrics",
    headers={"Accept": "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"},
)
urllib.request.urlopen(url).read()
took = []
for _ in range(scrapes):
    started = time.perf_counter()
    body = urllib.request.urlopen(url).read()
    took.append((time.perf_counter() - started) * 1000)
took.sort()
seen = {line.split('worker="')[1].split('"')[0] for line in body.decode().splitlines() if 'worker="' in line}
print(f"{workers} workers ({len(seen)} in the exposition), {scrapes} scrapes, "
      f"{len(body)} bytes each: median {statistics.median(took):.1f} ms, "
      f"p90 {took[int(len(took) * 0.9)]:.1f} ms, p99 {took[int(len(took) * 0.99)]:.1f} ms")
PY
