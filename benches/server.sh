# Sourced by the HTTP bench scripts: starts and stops one server under test. Needs $tmp
# (a scratch directory) and $wrk (benches/wrk.sh); sets $server (its pid, the leader of
# its own session) and $port.

server=""

# Starts a server in a session of its own and sets $port from its `port <n>` line; then
# lets its workers come up and warms it up.
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
  $wrk -t2 -c50 -d1s "http://127.0.0.1:$port/" > /dev/null
}

# Kills the server and its whole session.
stop() {
  kill -KILL -- "-$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  server=""
}
