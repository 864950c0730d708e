# Sourced by the bench/*.sh comparisons: starts keyhaven (dev mode, its own port) and moto_server (or, for
# fastpath.sh, an nginx ceiling in $ceiling_pid) on loopback, and stops them all and removes $work on exit. The caller sets $script (for messages), $keyhaven_bin and $work; afterwards
# $keyhaven_url and $moto_url point at the running servers. keyhaven settings come from KEYHAVEN_* variables the
# caller exports.

keyhaven_pid=""
moto_pid=""
ceiling_pid=""

stop() {
  local pid
  for pid in "$keyhaven_pid" "$moto_pid" "$ceiling_pid"; do
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
    fi
  done
  for pid in "$keyhaven_pid" "$moto_pid" "$ceiling_pid"; do
    if [ -n "$pid" ]; then
      wait "$pid" 2>/dev/null || true
    fi
  done
  rm -rf "$work"
}
trap stop EXIT
# Turn signals into a normal exit so that the EXIT trap stops the servers.
trap 'exit 130' INT
trap 'exit 143' TERM

# Polls until $1 (a command) succeeds, for up to 30 s; $2 names the server in the error.
wait_until() {
  local i
  for i in $(seq 300); do
    if eval "$1"; then
      return 0
    fi
    sleep 0.1
  done
  echo "$script: $2 did not come up; its log:" >&2
  cat "$work/$2.log" >&2 || true
  exit 1
}

# A free loopback port (the gap before a server binds it is harmless on loopback).
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start_servers() {
  start_keyhaven
  start_moto
}

start_keyhaven() {
  # keyhaven picks its own port (listen on :0) and prints it.
  "$keyhaven_bin" serve --dev --listen 127.0.0.1:0 --data-dir "$work/keyhaven-data" \
    >"$work/keyhaven.out" 2>"$work/keyhaven.log" &
  keyhaven_pid=$!
  wait_until "grep -q '^keyhaven listening on http://127.0.0.1:' '$work/keyhaven.out'" keyhaven
  keyhaven_url="$(sed -n 's/^keyhaven listening on \(http:\/\/127\.0\.0\.1:[0-9]*\).*/\1/p' "$work/keyhaven.out" | head -n1)"
  wait_until "[ \"\$(curl -s -o /dev/null -w '%{http_code}' '$keyhaven_url/_keyhaven/health')\" = 200 ]" keyhaven
}

start_moto() {
  # moto needs a port up front.
  local moto_port
  moto_port="$(free_port)"
  moto_server -H 127.0.0.1 -p "$moto_port" >"$work/moto.log" 2>&1 &
  moto_pid=$!
  moto_url="http://127.0.0.1:$moto_port"
  # Any HTTP status means it answers (curl prints 000 when nothing does).
  wait_until "[ \"\$(curl -s -o /dev/null -w '%{http_code}' '$moto_url/')\" != 000 ]" moto
}
