#!/usr/bin/env bash
# Cluster-scoped periodic tasks on a real etcd (Debian's etcd-server), started here on
# free loopback ports: the overhead of a cluster task's run against a local one (the
# claim of its period: a local run makes no call at all), and the failover time after
# the SIGKILL of the host that ran the last period (median of ROUNDS, 10 by default),
# with the cluster example's 1 s spacing, 500 ms heartbeat and 3 s lease.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v etcd >/dev/null || { echo "needs etcd: apt-get install etcd-server" >&2; exit 1; }
cargo build --quiet --release --bin cluster --example bench_cluster
dir=$(mktemp -d)
read -r client peer < <(python3 -c '
import socket
ports = []
for _ in range(2):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); ports.append(s.getsockname()[1]); s.close()
print(*ports)')
etcd --data-dir "$dir/data" --name bench \
  --listen-client-urls "http://127.0.0.1:$client" --advertise-client-urls "http://127.0.0.1:$client" \
  --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
  --initial-cluster "bench=http://127.0.0.1:$peer" >"$dir/etcd.log" 2>&1 &
etcd_pid=$!
trap 'kill $etcd_pid 2>/dev/null; wait $etcd_pid 2>/dev/null; rm -rf "$dir"' EXIT
until curl -s -X POST "http://127.0.0.1:$client/v3/kv/range" -d '{"key":"AA=="}' >/dev/null; do sleep 0.1; done
url="etcd3+http://127.0.0.1:$client"
printf '[coordination]\nbackend_url = %s\nmember_id = bench\n' "$url" >"$dir/bench.conf"

echo "etcd $(etcd --version | head -1 | awk '{print $3}') on 127.0.0.1, 2 cores"
read -r won_p50 won_p99 lost_p50 lost_p99 < <(target/release/examples/bench_cluster "$dir/bench.conf" "${RUNS:-500}")
echo "claim of a period, won:  median ${won_p50} ms, p99 ${won_p99} ms (${RUNS:-500} claims)"
echo "claim of a period, lost: median ${lost_p50} ms, p99 ${lost_p99} ms"
echo "(a local task's run makes no such call: the claim is the whole overhead)"
read -r median fastest slowest < <(python3 benches/cluster_failover.py target/release/cluster "$url" "${ROUNDS:-10}")
echo "failover after SIGKILL of the last runner: median ${median} ms (${fastest} to ${slowest}) over ${ROUNDS:-10} rounds"
