#!/usr/bin/env bash
# Keyhaven on PostgreSQL next to keyhaven on SQLite: KMS Encrypt/Decrypt (kms-bench) and Parameter Store
# GetParameter/PutParameter (ssm-bench) on one SQLite node, one PostgreSQL node, and two PostgreSQL nodes sharing
# the load (two load generators at once, half the concurrency each, their throughputs added). A throwaway
# PostgreSQL cluster (fsync on, as in production) runs beside them. Run by hand (bench/postgres.sh); not part of
# scripts/test or CI: timings on shared machines are noise for a pass/fail gate.
#
# Settings (environment): DURATION (s per operation, default 5), CONCURRENCY (default 32), WARMUP (s, default 1),
# PARAMETERS (seeded for the Parameter Store reads, default 2000). Everything listens on and talks to 127.0.0.1.
set -euo pipefail

DURATION="${DURATION:-5}"
CONCURRENCY="${CONCURRENCY:-32}"
WARMUP="${WARMUP:-1}"
PARAMETERS="${PARAMETERS:-2000}"

repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
for tool in cargo jq; do
  command -v "$tool" >/dev/null || { echo "postgres.sh: $tool is required" >&2; exit 1; }
done
pg_bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
[ -x "$pg_bin/initdb" ] || { echo "postgres.sh: PostgreSQL is required (apt-get install postgresql)" >&2; exit 1; }

echo "== building (release): keyhaven, kms-bench, ssm-bench" >&2
cargo build --release --quiet -p keyhaven -p keyhaven-bench
target_dir="${CARGO_TARGET_DIR:-$repo/target}"
keyhaven_bin="$target_dir/release/keyhaven"

work="$(mktemp -d "${TMPDIR:-/tmp}/keyhaven-pg-bench.XXXXXX")"
chmod 755 "$work"
pids=()
as_postgres=()
if [ "$(id -u)" = 0 ]; then
  chown postgres "$work"
  as_postgres=(runuser -u postgres --)
fi
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  "${as_postgres[@]}" "$pg_bin/pg_ctl" -D "$work/pg" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

pg_port="$(free_port)"
"${as_postgres[@]}" "$pg_bin/initdb" -D "$work/pg" -U keyhaven --auth=trust -E UTF8 --locale=C >/dev/null
"${as_postgres[@]}" "$pg_bin/pg_ctl" -D "$work/pg" -l "$work/pg.log" -w \
  -o "-p $pg_port -k $work -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null
database=0
new_database() {
  database=$((database + 1))
  "$pg_bin/psql" -q -h 127.0.0.1 -p "$pg_port" -U keyhaven -d postgres -c "CREATE DATABASE bench$database"
  echo "postgres://keyhaven@127.0.0.1:$pg_port/bench$database"
}

# $1: name, then serve flags; sets $endpoint.
start_node() {
  local name="$1" port
  shift
  port="$(free_port)"
  KEYHAVEN_LOG=warn KEYHAVEN_ROOT_KEY="$root_key" "$keyhaven_bin" serve --dev --listen "127.0.0.1:$port" \
    --data-dir "$work/$name" "$@" >"$work/$name.log" 2>&1 &
  pids+=("$!")
  endpoint="http://127.0.0.1:$port"
  for _ in $(seq 300); do
    curl -sf "$endpoint/_keyhaven/health" >/dev/null && return
    sleep 0.1
  done
  echo "postgres.sh: $name did not start (see $work/$name.log)" >&2
  exit 1
}

kms() { "$target_dir/release/kms-bench" --endpoint "$1" --duration "$DURATION" --warmup "$WARMUP" \
  --concurrency "$2" --operations encrypt,decrypt --json; }
ssm() { "$target_dir/release/ssm-bench" --endpoint "$1" --duration "$DURATION" --warmup "$WARMUP" \
  --concurrency "$2" --operations get-parameter,put-parameter --seed-from "$3" --seed-to "$PARAMETERS" --json; }

# $1: label, then the endpoints of its nodes: each node's load generators run at once with an equal share.
measure() {
  local label="$1" share n
  shift
  share=$((CONCURRENCY / $#))
  echo "== $label: seeding $PARAMETERS parameters through the first node" >&2
  "$target_dir/release/ssm-bench" --endpoint "$1" --seed-from 0 --seed-to "$PARAMETERS" --operations get-parameter \
    --duration 1 --warmup 0 --concurrency 1 --json >/dev/null
  n=0
  for endpoint in "$@"; do
    echo "== $label: load on $endpoint (concurrency $share)" >&2
    kms "$endpoint" "$share" >"$work/$label-kms-$n.json" &
    n=$((n + 1))
  done
  wait_loads
  n=0
  for endpoint in "$@"; do
    ssm "$endpoint" "$share" "$PARAMETERS" >"$work/$label-ssm-$n.json" &
    n=$((n + 1))
  done
  wait_loads
  jq -r -n --arg setup "$label" '
    [inputs.results[]] | group_by(.operation)[]
    | [$setup, .[0].operation, (map(.requests_per_s) | add | round), (map(.p50_ms) | max * 100 | round / 100),
       (map(.p99_ms) | max * 100 | round / 100), (map(.errors) | add)] | @tsv' \
    "$work/$label"-kms-*.json "$work/$label"-ssm-*.json >>"$work/results.tsv"
}

# Waits for every background load generator (not the servers).
wait_loads() {
  local job
  for job in $(jobs -p); do
    if ! printf '%s\n' "${pids[@]}" | grep -qx "$job"; then
      wait "$job"
    fi
  done
}

root_key="$(head -c 32 /dev/urandom | base64)"
export KEYHAVEN_SSM_STANDARD_PARAMETER_LIMIT=1000000

start_node sqlite
measure "sqlite, 1 node" "$endpoint"

url="$(new_database)"
start_node pg-one --store "$url"
measure "postgres, 1 node" "$endpoint"

url="$(new_database)"
start_node pg-a --store "$url"
first="$endpoint"
start_node pg-b --store "$url"
measure "postgres, 2 nodes" "$first" "$endpoint"

cores="$(nproc)"
echo
echo "Keyhaven on SQLite and PostgreSQL: $(git -C "$repo" describe --always --dirty 2>/dev/null || echo '?'), PostgreSQL" \
  "$("$pg_bin/postgres" --version | awk '{print $3}'), concurrency $CONCURRENCY in all, ${DURATION} s per operation"
echo "CAVEAT: the nodes, PostgreSQL and the load generators all share this machine's $cores CPU core(s); with two"
echo "nodes on two cores each node has less CPU than one alone had, so figures show what serialises, not capacity."
echo
{
  printf 'setup\toperation\treq/s\tp50 ms\tp99 ms\terrors\n'
  cat "$work/results.tsv"
} | column -t -s $'\t'
