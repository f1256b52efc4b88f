#!/usr/bin/env bash
# Failed requests across deployments of a new build, counted by wrk on 127.0.0.1
# (2 threads, 50 keep-alive connections, DURATION seconds, default 10): our HTTP server
# (benches/bench_http.rs) in 2 worker processes, its executable replaced on disk 3
# times during the run, and each time either
#   1. upgraded: SIGUSR2, the new executable takes the listening socket over, or
#   2. restarted: SIGTERM, then the new executable started, as a deployment without an
#      upgrade does (oslo.service has nothing else).
# Failed = wrk's socket errors (connect, read, write, timeout) and non-2xx answers.
# Fetches wrk (Debian's, pinned) by benches/wrk.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/successor.sh

source benches/wrk.sh
cargo build --quiet --release --example bench_http
duration=${DURATION:-10}
tmp=$(mktemp -d)
server=""
cleanup() {
  [ -n "$server" ] && kill -KILL -- "-$server" 2>/dev/null || true
  pkill -KILL -f "$tmp/bench_http" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

cat > "$tmp/bench.conf" <<'CONF'
[DEFAULT]
default_log_levels = oslo::wsgi::access=WARN
graceful_shutdown_timeout = 30
CONF
exe="$tmp/bench_http"
cp target/release/examples/bench_http "$exe"

# A new build at $exe, as a deployment puts it: written beside, renamed over.
deploy() {
  { cat target/release/examples/bench_http; printf 'build %s' "$1"; } > "$exe.new"
  chmod 755 "$exe.new"
  mv "$exe.new" "$exe"
}

# Starts the server from $exe; sets $server and $port.
start() {
  "$exe" --config-file "$tmp/bench.conf" > "$tmp/out" 2>> "$tmp/err" &
  server=$!
  port=""
  for _ in $(seq 200); do
    port=$(sed -n 's/^port \([0-9]*\)$/\1/p' "$tmp/out" | tail -1)
    [ -n "$port" ] && break
    sleep 0.05
  done
  [ -n "$port" ] || { cat "$tmp/err" >&2; exit 1; }
  sleep 0.5
}

# wrk's summary: requests and failed requests.
count() {
  python3 - "$1" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
total = int(re.search(r"(\d+) requests in", text).group(1))
errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
failed = sum(map(int, errors.groups())) if errors else 0
non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
failed += int(non2xx.group(1)) if non2xx else 0
detail = "connect %s, read %s, write %s, timeout %s" % errors.groups() if errors else "no socket error"
print(f"{failed} failed of {total} ({detail})")
PY
}

pause=$(python3 -c "print(max(0.5, ($duration - 2) / 3))")

# 1. Upgrades: the parent that answers SIGUSR2 is the last one that took over.
: > "$tmp/err"
start
$wrk -t2 -c50 -d"${duration}s" "http://127.0.0.1:$port/" > "$tmp/wrk-upgrade" &
wrk_pid=$!
parent=$server
for round in 1 2 3; do
  sleep "$pause"
  deploy "$round"
  parent=$(successor "$parent" "$tmp/err")
done
wait "$wrk_pid"
kill -TERM "$parent" 2>/dev/null || true
while kill -0 "$parent" 2>/dev/null; do sleep 0.05; done
echo "upgraded 3 times (SIGUSR2):  $(count "$tmp/wrk-upgrade")"

# 2. Restarts: SIGTERM, wait for the exit, start the new file.
cp target/release/examples/bench_http "$exe"
: > "$tmp/err"
start
$wrk -t2 -c50 -d"${duration}s" "http://127.0.0.1:$port/" > "$tmp/wrk-restart" &
wrk_pid=$!
for round in 1 2 3; do
  sleep "$pause"
  deploy "$round"
  kill -TERM "$server"
  wait "$server" 2>/dev/null || true
  # The same port, so that wrk's connections find the new server.
  printf '[bench]\nport = %s\n' "$port" > "$tmp/restart.conf"
  "$exe" --config-file "$tmp/bench.conf" --config-file "$tmp/restart.conf" > "$tmp/out" 2>> "$tmp/err" &
  server=$!
done
wait "$wrk_pid"
kill -TERM "$server" 2>/dev/null || true
wait "$server" 2>/dev/null || true
server=""
echo "restarted 3 times (SIGTERM): $(count "$tmp/wrk-restart")"
