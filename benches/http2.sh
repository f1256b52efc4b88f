#!/usr/bin/env bash
# HTTP/2 figures side by side in one run on this machine, from h2load on 127.0.0.1
# (cleartext, prior knowledge; 50 connections of 10 concurrent streams, DURATION seconds
# each, default 10), RUNS rounds (default 3) of the servers below, interleaved, reported
# as medians:
#   1. plain axum in one process, no framework, hyper's HTTP/2 (benches/bench_axum.rs)
#   2. ours: oslo::wsgi::Server in 2 worker processes, the same handler (bench_http.rs)
#   3. ours in 2 workers again, with 5 SIGHUPs (reloads) and then 3 SIGUSR2 (binary
#      upgrades to a new build written over the executable) during the run, under
#      benches/h2_streams.py (Python's h2, 4 processes of one connection with 10
#      streams in flight each): it reconnects after a GOAWAY and tells a stream the
#      server never took (refused, sent again) from one it took and did not answer
#      whole (failed). h2load cannot: it neither reconnects after a GOAWAY nor tells
#      the two apart.
#   4. gRPC, unary SayHello of examples/proto/greeter.proto: plain tonic's routes on
#      hyper's HTTP/2 in one process (bench_tonic.rs), and ours in 2 worker processes
#      (bench_grpc.rs), the same service (benches/greeter.rs).
#   5. ours over gRPC again, with 5 SIGHUPs and 3 SIGUSR2 during the run, under
#      grpcio's calls (benches/grpc_calls.py), which reconnect after a GOAWAY as real
#      clients do: its failed calls are the failed RPCs.
# h2load is Debian's nghttp2-client, fetched by benches/h2load.sh (pinned, no root).
# Access log lines are off (oslo::wsgi::access=WARN).
set -euo pipefail
cd "$(dirname "$0")/.."

source benches/h2load.sh
source benches/python-env.sh
source benches/successor.sh
cargo build --quiet --release --example bench_http --example bench_axum --example bench_grpc --example bench_tonic
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

# Starts a server in a session of its own and sets $port from its `port <n>` line, then
# warms it up.
start() {
  setsid "$@" > "$tmp/out" 2> "$tmp/err" &
  server=$!
  port=""
  for _ in $(seq 200); do
    port=$(sed -n 's/^port \([0-9]*\)$/\1/p' "$tmp/out")
    [ -n "$port" ] && break
    sleep 0.05
  done
  [ -n "$port" ] || { cat "$tmp/err" >&2; exit 1; }
  sleep 1
  $h2load -c 50 -m 10 -D 1 "http://127.0.0.1:$port/" > /dev/null
}

stop() {
  kill -KILL -- "-$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  server=""
}

# A SayHello request, as gRPC frames it: uncompressed, 7 bytes, field 1 = "bench".
printf '\x00\x00\x00\x00\x07\x0a\x05bench' > "$tmp/hello.grpc"
grpc_call=(-d "$tmp/hello.grpc" -H "content-type: application/grpc" -H "te: trailers")

# Runs h2load against $path (with the arguments in $call) and prints one summary line:
# req/s, mean and max request time (ms), h2load's failed requests, non-2xx answers,
# requests done.
path=/
call=()
measure() {
  $h2load -c 50 -m 10 -D "$duration" "${call[@]}" "http://127.0.0.1:$port$path" > "$tmp/h2load" || true
  python3 - "$tmp/h2load" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
def ms(value):
    number, unit = re.match(r"([\d.]+)(\w+)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1, "s": 1000}[unit]
rps = float(re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", text).group(1))
done = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout", text)
total, started, finished, succeeded, failed, errored, timeout = map(int, done.groups())
codes = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", text)
non2xx = sum(map(int, codes.groups()[1:]))
times = re.search(r"time for request:\s+(\S+)\s+(\S+)\s+(\S+)", text)
mean, most = ms(times.group(3)), ms(times.group(2))
print(f"{rps:.0f} {mean:.3f} {most:.3f} {failed + timeout} {non2xx} {finished}")
PY
}

run() {
  local label=$1
  shift
  start "$@"
  measure >> "$tmp/$label"
  stop
}

# A new build of $1 (an executable of target/release/examples) at $2, as a deployment
# puts it: written beside, renamed over.
deploy() {
  { cat "target/release/examples/$1"; printf 'build %s' "$3"; } > "$2.new"
  chmod 755 "$2.new"
  mv "$2.new" "$2"
}

# During a run of about $duration seconds of the server started from $2 (a copy of
# example $1): 5 SIGHUPs, then 3 SIGUSR2, each after a new build written over $2. The
# parent that answers the next SIGUSR2 is the successor, once its predecessor is gone.
deployments() {
  local example=$1 exe=$2 parent=$server pause
  pause=$(python3 -c "print(max(0.2, ($duration - 2) / 8))")
  sleep 1
  for _ in 1 2 3 4 5; do
    kill -HUP "$parent"
    sleep "$pause"
  done
  for build in 1 2 3; do
    deploy "$example" "$exe" "$build"
    parent=$(successor "$parent" "$tmp/err")
    sleep "$pause"
  done
}

# What the processes logged of the deployments: to $tmp/events.
count_deployments() {
  echo "$1: $(grep -c "caught signal, reloading" "$tmp/err" || true) reloads, $(grep -c "started the executable on disk" "$tmp/err" || true) upgrades" >> "$tmp/events"
}

# Ours under h2_streams.py, reloaded 5 times and upgraded 3 times: its `ok N non2xx N
# refused N failed N connections N` line to $tmp/h2_deploying.
run_deploying() {
  cp target/release/examples/bench_http "$exe"
  start "$exe" --config-file "$tmp/bench.conf"
  deployments bench_http "$exe" &
  local deployer=$!
  "$venv/bin/python" benches/h2_streams.py "$port" "$duration" 4 10 >> "$tmp/h2_deploying"
  wait "$deployer"
  count_deployments HTTP
  stop
  pkill -KILL -f "^$exe" 2>/dev/null || true
}

# Ours under grpcio's calls (benches/grpc_calls.py: 8 threads, a connection each,
# re-made after a GOAWAY as gRPC clients do), reloaded 5 times and upgraded 3 times:
# its `ok N failed M` line to $tmp/grpc_deploying.
run_deploying_grpc() {
  local grpc_exe="$tmp/bench_grpc"
  cp target/release/examples/bench_grpc "$grpc_exe"
  start "$grpc_exe" --config-file "$tmp/bench.conf"
  deployments bench_grpc "$grpc_exe" &
  local deployer=$!
  "$venv/bin/python" benches/grpc_calls.py "$port" "$duration" 8 >> "$tmp/grpc_deploying"
  wait "$deployer"
  count_deployments gRPC
  stop
  pkill -KILL -f "^$grpc_exe" 2>/dev/null || true
}

runs=${RUNS:-3}
echo "h2load -c50 -m10 -D${duration}, prior knowledge, $runs runs of each server interleaved, medians, $(nproc) cores"
for _ in $(seq "$runs"); do
  path=/ call=()
  run axum target/release/examples/bench_axum
  run ours "$exe" --config-file "$tmp/bench.conf"
  run_deploying
  path=/greeter.Greeter/SayHello call=("${grpc_call[@]}")
  run tonic target/release/examples/bench_tonic
  run ours_grpc target/release/examples/bench_grpc --config-file "$tmp/bench.conf"
  run_deploying_grpc
done

python3 - "$tmp" <<'PY'
import statistics, sys
tmp = sys.argv[1]
def rows(label):
    return [list(map(float, line.split())) for line in open(f"{tmp}/{label}")]
def median(label, column):
    return statistics.median(row[column] for row in rows(label))
names = [
    ("axum", "plain axum, hyper h2 (1 process)"),
    ("ours", "oslo-service wsgi h2 (2 w)"),
    ("tonic", "gRPC: plain tonic on hyper (1 p.)"),
    ("ours_grpc", "gRPC: oslo-service wsgi (2 w)"),
]
print(f"{'server':<36} {'req/s':>9} {'mean ms':>8} {'max ms':>8} {'failed':>14} {'non-2xx':>8} {'done':>9}")
for label, name in names:
    failed = sum(row[3] for row in rows(label))
    non2xx = sum(row[4] for row in rows(label))
    total = sum(row[5] for row in rows(label))
    print(f"{name:<36} {median(label, 0):>9.0f} {median(label, 1):>8.3f} {median(label, 2):>8.1f} {failed:>14.0f} {non2xx:>8.0f} {total:>9.0f}")
print(f"ours / plain axum: {median('ours', 0) / median('axum', 0):.2f}; gRPC ours / plain tonic: {median('ours_grpc', 0) / median('tonic', 0):.2f}")
PY
echo "deployments logged per run: $(tr '\n' ';' < "$tmp/events")"
echo "HTTP/2 streams across 5 SIGHUPs + 3 SIGUSR2 (h2_streams.py, 4 x 10 streams), per run:"
sed 's/^/  /' "$tmp/h2_deploying"
echo "gRPC calls across 5 SIGHUPs + 3 SIGUSR2 (grpcio, 8 threads), per run:"
sed 's/^/  /' "$tmp/grpc_deploying"
