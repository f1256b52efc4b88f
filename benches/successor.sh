# Sourced by the bench scripts that upgrade a server under load.
# successor PARENT LOG: sends PARENT SIGUSR2, waits until the successor it started (as
# LOG, the servers' stderr, names it) serves and PARENT is gone, and prints its pid.
successor() {
  local parent=$1 log=$2 next=""
  kill -USR2 "$parent"
  for _ in $(seq 600); do
    next=$(sed -n 's/.*started the executable on disk.*successor=\([0-9]*\).*/\1/p' "$log" | tail -1)
    [ -n "$next" ] && [ "$next" != "$parent" ] && ! kill -0 "$parent" 2>/dev/null && break
    sleep 0.05
  done
  echo "$next"
}
