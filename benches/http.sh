#!/usr/bin/env bash
# HTTP figures side by side in one run on this machine, from wrk on 127.0.0.1 (50
# connections, 2 threads, DURATION seconds each, default 10), RUNS rounds (default 3)
# of the four below, interleaved, reported as medians (p99 moves by a few ms from run
# to run on 2 cores, where wrk and the servers share the CPUs):
#   1. oslo.service's wsgi.Server (eventlet, 2 worker processes, a WSGI app answering ok)
#   2. plain axum in one process, no framework (benches/bench_axum.rs)
#   3. ours: oslo::wsgi::Server in 2 worker processes, the same handler (bench_http.rs)
#   4. ours in one process (a multi-threaded runtime), to tell the server's own cost
#      from that of worker processes
#   5. ours in 2 workers again, with 5 SIGHUPs (reloads: new workers, old ones drained) during the
#      run, counting failed requests (wrk's socket errors and non-2xx answers).
#   6. ours in 2 workers with `[metrics] enabled`: every request recorded, and the host
#      scraped once a second during the run; compared with 3., which records nothing.
#   7. ours in 2 workers with `[otel]` (feature otel): every request sampled, its span
#      sent to benches/otlp_sink.rs, a collector that reads each export and answers at
#      once; compared with 3., which traces nothing.
#   8. the same with the collector down (its port refuses connections): the spans are
#      dropped, and requests must not wait for it.
#   9. and 10. 7. and 8. in one process, beside 4.: a steadier comparison, where two
#      workers' shares of wrk's connections move from run to run.
# Each row also gives the server's CPU time per request (all its processes).
# Access log lines are off in both frameworks (oslo.service's logging is left
# unconfigured; ours runs with oslo::wsgi::access=WARN). Fetches wrk (Debian's, pinned) by benches/wrk.sh;
# installs oslo.service into benches/.venv on first use.
set -euo pipefail
cd "$(dirname "$0")/.."

source benches/wrk.sh
source benches/python-env.sh
cargo build --quiet --release --example bench_http --example bench_axum --example otlp_sink
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
{ cat "$tmp/bench.conf"; printf '[bench]\nworkers = 1\n'; } > "$tmp/in-process.conf"
{ cat "$tmp/bench.conf"; printf '[metrics]\nenabled = true\nport = 0\n'; } > "$tmp/metrics.conf"

source benches/server.sh

# The collector of the traced rows, for the whole run.
target/release/examples/otlp_sink > "$tmp/sink" &
sink=$!
trap 'kill "$sink" 2>/dev/null; cleanup' EXIT
for _ in $(seq 100); do
  sink_port=$(sed -n 's/^port \([0-9]*\)$/\1/p' "$tmp/sink")
  [ -n "$sink_port" ] && break
  sleep 0.05
done
{ cat "$tmp/bench.conf"; printf '[otel]\nendpoint = http://127.0.0.1:%s\nsample_ratio = 1.0\n' "$sink_port"; } > "$tmp/traced.conf"
# A port no one listens on: every export is refused.
down_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
{ cat "$tmp/bench.conf"; printf '[otel]\nendpoint = http://127.0.0.1:%s\n' "$down_port"; } > "$tmp/down.conf"
# The same two in one process, beside in_process: its threads share the connections
# evenly, where two workers' shares of wrk's 50 move from run to run.
for conf in traced down; do
  { cat "$tmp/$conf.conf"; printf '[bench]\nworkers = 1\n'; } > "$tmp/$conf-in-process.conf"
done

# The CPU time (in clock ticks) the server's processes have used, the ones still
# running and the ones their parents waited for: what a request costs the server, a
# figure that drifts less than req/s, where wrk shares the two cores.
server_cpu() {
  python3 - "$server" <<'PY'
import os, sys
session, ticks = int(sys.argv[1]), 0
for entry in os.listdir("/proc"):
    if entry.isdigit():
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == session:
            ticks += sum(int(fields[i]) for i in (11, 12, 13, 14))
print(ticks)
PY
}

# Runs wrk and prints one summary line: req/s, p50, p99 (ms), failed requests,
# requests, and the server's CPU time per request (microseconds).
measure() {
  local cpu_before
  cpu_before=$(server_cpu)
  $wrk -t2 -c50 -d"${duration}s" --latency "http://127.0.0.1:$port/" > "$tmp/wrk"
  local cpu_used=$(( $(server_cpu) - cpu_before ))
  python3 - "$tmp/wrk" "$cpu_used" "$(getconf CLK_TCK)" <<'PY'
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
cpu_us = int(sys.argv[2]) / int(sys.argv[3]) * 1e6 / max(total, 1)
print(f"{rps:.0f} {p50:.3f} {p99:.3f} {failed} {total} {cpu_us:.2f}")
PY
}

runs=${RUNS:-3}
echo "wrk -t2 -c50 -d${duration}s, $runs runs of each server interleaved, medians; oslo.service $("$venv/bin/python" -c 'from importlib.metadata import version; print(version("oslo.service"))'), $(nproc) cores"

# One run of one server: its summary line goes to $tmp/<label>.
run() {
  local label=$1
  shift
  start "$@"
  measure >> "$tmp/$label"
  stop
}

# Ours, reloaded 5 times while wrk runs; the reloads the parent logged go to
# $tmp/reloads.
run_reloading() {
  start target/release/examples/bench_http --config-file "$tmp/bench.conf"
  (
    sleep 1
    for _ in 1 2 3 4 5; do
      kill -HUP "$server"
      sleep "$(python3 -c "print(max(0.2, ($duration - 2) / 5))")"
    done
  ) &
  local reloader=$!
  measure >> "$tmp/reloading"
  wait "$reloader"
  grep -c "caught signal, reloading" "$tmp/err" >> "$tmp/reloads" || true
  stop
}

# Ours with metrics on, scraped once a second while wrk runs; the scrapes that
# answered go to $tmp/scrapes.
run_scraped() {
  start target/release/examples/bench_http --config-file "$tmp/metrics.conf"
  local metrics
  metrics=$(sed -n 's|.*serving metrics at http://127.0.0.1:\([0-9]*\)/metrics.*|\1|p' "$tmp/err" | head -1)
  (
    for _ in $(seq "$duration"); do
      sleep 1
      curl -sf "http://127.0.0.1:$metrics/metrics" > /dev/null && echo 1
    done
  ) > "$tmp/scraped" &
  local scraper=$!
  measure >> "$tmp/metrics"
  wait "$scraper"
  wc -l < "$tmp/scraped" >> "$tmp/scrapes"
  stop
}

# ROWS="ours traced down" runs those rows alone (the others are left out of the table).
rows=${ROWS:-python axum ours in_process reloading metrics traced down traced_in_process down_in_process}
run_row() {
  case $1 in
    python) run python "$venv/bin/python" benches/py_http.py ;;
    axum) run axum target/release/examples/bench_axum ;;
    ours) run ours target/release/examples/bench_http --config-file "$tmp/bench.conf" ;;
    in_process) run in_process target/release/examples/bench_http --config-file "$tmp/in-process.conf" ;;
    reloading) run_reloading ;;
    metrics) run_scraped ;;
    traced) run traced target/release/examples/bench_http --config-file "$tmp/traced.conf" ;;
    down) run down target/release/examples/bench_http --config-file "$tmp/down.conf" ;;
    traced_in_process) run traced_in_process target/release/examples/bench_http --config-file "$tmp/traced-in-process.conf" ;;
    down_in_process) run down_in_process target/release/examples/bench_http --config-file "$tmp/down-in-process.conf" ;;
    *) echo "no row named $1" >&2; exit 2 ;;
  esac
}
read -r -a order <<< "$rows"
# Each round starts one row later than the one before, so that no row always follows
# the same one (a row that always ran after a traced one paid for it in the ratios).
for round in $(seq 0 $((runs - 1))); do
  for i in "${!order[@]}"; do
    run_row "${order[$(( (i + round) % ${#order[@]} ))]}"
  done
done
sink_stats=$(curl -sf "http://127.0.0.1:$sink_port/stats")

python3 - "$tmp" "$sink_stats" <<'PY'
import os, statistics, sys
tmp = sys.argv[1]
exports, sent = map(int, sys.argv[2].split())
def ran(label):
    return os.path.exists(f"{tmp}/{label}")
def rows(label):
    return [list(map(float, line.split())) for line in open(f"{tmp}/{label}")]
def median(label, column):
    return statistics.median(row[column] for row in rows(label))
names = [
    ("python", "oslo.service wsgi (eventlet, 2 w)"),
    ("axum", "plain axum (1 process)"),
    ("ours", "oslo-service wsgi (2 w)"),
    ("in_process", "oslo-service wsgi (in process)"),
    ("reloading", "oslo-service, 5 SIGHUPs per run"),
    ("metrics", "oslo-service, metrics on (2 w)"),
    ("traced", "oslo-service, every request traced"),
    ("down", "oslo-service, traced, collector down"),
    ("traced_in_process", "in process, every request traced"),
    ("down_in_process", "in process, collector down"),
]
print(f"{'server':<38} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'failed':>7} {'CPU us/req':>10}  p99 of each run")
for label, name in names:
    if not ran(label):
        continue
    each = " ".join(f"{row[2]:.2f}" for row in rows(label))
    failed = sum(row[3] for row in rows(label))
    print(f"{name:<38} {median(label, 0):>9.0f} {median(label, 1):>8.3f} {median(label, 2):>8.2f} {failed:>7.0f} {median(label, 5):>10.2f}  {each}")
ours = median("ours", 0) if ran("ours") else None
if ours and ran("axum") and ran("python"):
    axum, py = median("axum", 0), median("python", 0)
    print(f"ours / plain axum: {ours / axum:.2f}; ours / oslo.service: {ours / py:.1f}x")
if ran("reloading"):
    reloads = sum(int(line) for line in open(f"{tmp}/reloads"))
    total = sum(row[4] for row in rows("reloading"))
    failed = sum(row[3] for row in rows("reloading"))
    print(f"reload runs: {reloads} reloads logged, {total:.0f} requests, {failed:.0f} failed")
if ours and ran("metrics"):
    scrapes = sum(int(line) for line in open(f"{tmp}/scrapes"))
    print(f"metrics on / off: {median('metrics', 0) / ours:.3f} of the req/s ({scrapes} scrapes answered during the runs)")
def paired(label, off="ours"):
    # Each round's row over the round's tracing-off row, the median of those: what
    # drifts from round to round (the machine, wrk's spread of connections over the
    # workers) weighs less than in a ratio of medians.
    ratios = [row[0] / base[0] for row, base in zip(rows(label), rows(off))]
    each = " ".join(f"{ratio:.2f}" for ratio in ratios)
    return f"{statistics.median(ratios):.3f} paired by round ({each})"
def cpu(label, off="ours"):
    # The server's CPU time per request, tracing off over this row's: the share of the
    # requests per second it would keep if the server alone had the CPUs.
    ratios = [base[5] / row[5] for row, base in zip(rows(label), rows(off))]
    each = " ".join(f"{ratio:.2f}" for ratio in ratios)
    return f"{median(off, 5) / median(label, 5):.3f} of the CPU time per request's worth, {statistics.median(ratios):.3f} paired by round ({each})"
if ours and ran("traced"):
    print(f"traced / off: {median('traced', 0) / ours:.3f} of the req/s, {paired('traced')}")
    print(f"  {cpu('traced')}")
if ours and ran("down"):
    print(f"collector down / off: {median('down', 0) / ours:.3f} of the req/s, {paired('down')}")
    print(f"  {cpu('down')}")
# The collector served every traced row: its figures are the run's, over all of them.
traced_requests = sum(row[4] for label in ("traced", "traced_in_process") if ran(label) for row in rows(label))
if traced_requests:
    print(f"traced rows: {traced_requests:.0f} requests; the collector took {exports} exports, {sent / 1e6:.1f} MB")
for label, name in (("traced_in_process", "traced"), ("down_in_process", "collector down")):
    if ran("in_process") and ran(label):
        print(f"in process, {name} / off: {median(label, 0) / median('in_process', 0):.3f} of the req/s, {paired(label, 'in_process')}")
        print(f"  {cpu(label, 'in_process')}")
PY
