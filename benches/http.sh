#!/usr/bin/env bash
# HTTP figures side by side in one run on this machine, from wrk on 127.0.0.1 (50
# connections, 2 threads, DURATION seconds each, default 10):
#   1. oslo.service's wsgi.Server (eventlet, 2 worker processes, a WSGI app answering ok)
#   2. plain axum in one process, no framework (benches/bench_axum.rs)
#   3. ours: oslo::wsgi::Server in 2 worker processes, the same handler (bench_http.rs)
#   4. ours again, with 5 SIGHUPs (reloads: new workers, old ones drained) during the
#      run, counting failed requests (wrk's socket errors and non-2xx answers).
# Access log lines are off in both frameworks (oslo.service's logging is left
# unconfigured; ours runs with oslo::wsgi::access=WARN). Needs wrk (Debian: wrk);
# installs oslo.service into benches/.venv on first use.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v wrk >/dev/null || { echo "wrk is missing (apt-get install wrk)" >&2; exit 1; }
source benches/python-env.sh
cargo build --quiet --release --example bench_http --example bench_axum
duration=${DURATION:-10}
tmp=$(mktemp -d)
server=""
cleanup() {
  [ -n "$server" ] && kill -KILL -- "-$server" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

cat > "$tmp/bench.conf" <<'CONF'
[DEFAULT]
default_log_levels = oslo::wsgi::access=WARN
graceful_shutdown_timeout = 30
CONF

# Starts a server in a session of its own and sets $port from its `port <n>` line.
start() {
  setsid "$@" > "$tmp/out" 2> "$tmp/err" &
  server=$!
  for _ in $(seq 200); do
    port=$(sed -n 's/^port \([0-9]*\)$/\1/p' "$tmp/out")
    [ -n "$port" ] && break
    sleep 0.05
  done
  [ -n "$port" ] || { cat "$tmp/err" >&2; exit 1; }
  # Let the workers come up, then warm up.
  sleep 1
  wrk -t2 -c50 -d1s "http://127.0.0.1:$port/" > /dev/null
}

stop() {
  kill -KILL -- "-$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  server=""
}

# Runs wrk and prints one summary line: req/s, p50, p99 (ms), failed requests.
measure() {
  wrk -t2 -c50 -d"${duration}s" --latency "http://127.0.0.1:$port/" > "$tmp/wrk"
  python3 - "$tmp/wrk" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
def ms(value):
    number, unit = re.match(r"([\d.]+)(\w+)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[unit]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
total = int(re.search(r"(\d+) requests in", text).group(1))
p50 = ms(re.search(r"\s50%\s+(\S+)", text).group(1))
p99 = ms(re.search(r"\s99%\s+(\S+)", text).group(1))
errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
failed = sum(map(int, errors.groups())) if errors else 0
non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
failed += int(non2xx.group(1)) if non2xx else 0
print(f"{rps:.0f} {p50:.3f} {p99:.3f} {failed} {total}")
PY
}

echo "wrk -t2 -c50 -d${duration}s, oslo.service $("$venv/bin/python" -c 'from importlib.metadata import version; print(version("oslo.service"))'), $(nproc) cores"
printf '%-34s %10s %9s %9s %7s\n' server "req/s" "p50 ms" "p99 ms" failed

start "$venv/bin/python" benches/py_http.py
read -r py_rps py_p50 py_p99 py_failed _ < <(measure)
stop
printf '%-34s %10s %9s %9s %7s\n' "oslo.service wsgi (eventlet, 2 w)" "$py_rps" "$py_p50" "$py_p99" "$py_failed"

start target/release/examples/bench_axum
read -r ax_rps ax_p50 ax_p99 ax_failed _ < <(measure)
stop
printf '%-34s %10s %9s %9s %7s\n' "plain axum (1 process)" "$ax_rps" "$ax_p50" "$ax_p99" "$ax_failed"

start target/release/examples/bench_http --config-file "$tmp/bench.conf"
read -r os_rps os_p50 os_p99 os_failed _ < <(measure)
printf '%-34s %10s %9s %9s %7s\n' "oslo-service wsgi (2 w)" "$os_rps" "$os_p50" "$os_p99" "$os_failed"

# The same server, reloaded 5 times while wrk runs.
(
  sleep 1
  for _ in 1 2 3 4 5; do
    kill -HUP "$server"
    sleep "$(python3 -c "print(max(0.2, ($duration - 2) / 5))")"
  done
) &
reloader=$!
read -r re_rps re_p50 re_p99 re_failed re_total < <(measure)
wait "$reloader"
reloads=$(grep -c "caught signal, reloading" "$tmp/err" || true)
stop
printf '%-34s %10s %9s %9s %7s\n' "oslo-service, 5 SIGHUPs in the run" "$re_rps" "$re_p50" "$re_p99" "$re_failed"

python3 - "$os_rps" "$ax_rps" "$py_rps" <<'PY'
import sys
ours, axum, py = map(float, sys.argv[1:])
print(f"ours / plain axum: {ours / axum:.2f}; ours / oslo.service: {ours / py:.1f}x")
PY
echo "reloads logged: $reloads; requests in the reload run: $re_total, failed: $re_failed"
