#!/usr/bin/env bash
# KMS throughput/latency comparison: keyhaven vs moto (the peer), driven by kms-bench with identical settings.
# Run by hand (bench/kms.sh); deliberately not part of scripts/test or CI, since timings on shared machines are noise
# for a pass/fail gate.
#
# Settings (environment): DURATION (s, default 10), CONCURRENCY (default 32), WARMUP (s, default 1),
# OPERATIONS (default encrypt,decrypt,generate-data-key; the asymmetric and HMAC ones:
# OPERATIONS=sign-rsa,verify-rsa,sign-ecc,verify-ecc,sign-ed25519,sign-ml-dsa,verify-ml-dsa,generate-mac,decrypt-rsa),
# PLAINTEXT_BYTES (default 32), BENCH_THREADS (load-generator runtime threads; default one per core). Everything listens on and talks to 127.0.0.1 only.
# KEYHAVEN_BIN: a built binary to measure instead of this tree's (such as an older commit's).
set -euo pipefail

DURATION="${DURATION:-10}"
CONCURRENCY="${CONCURRENCY:-32}"
WARMUP="${WARMUP:-1}"
OPERATIONS="${OPERATIONS:-encrypt,decrypt,generate-data-key}"
PLAINTEXT_BYTES="${PLAINTEXT_BYTES:-32}"
BENCH_THREADS="${BENCH_THREADS:-}"

repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"

for tool in cargo curl jq moto_server python3; do
  command -v "$tool" >/dev/null || { echo "kms.sh: $tool is required" >&2; exit 1; }
done

echo "== building (release): keyhaven, kms-bench" >&2
cargo build --release --quiet -p keyhaven -p keyhaven-bench
target_dir="${CARGO_TARGET_DIR:-$repo/target}"
keyhaven_bin="${KEYHAVEN_BIN:-$target_dir/release/keyhaven}"
bench_bin="$target_dir/release/kms-bench"

work="$(mktemp -d "${TMPDIR:-/tmp}/keyhaven-kms-bench.XXXXXX")"
script=kms.sh
# shellcheck source=bench/servers.sh
source "$repo/bench/servers.sh"
start_servers

bench_args=(--duration "$DURATION" --warmup "$WARMUP" --concurrency "$CONCURRENCY" --operations "$OPERATIONS"
  --plaintext-bytes "$PLAINTEXT_BYTES" --json)
if [ -n "$BENCH_THREADS" ]; then
  bench_args+=(--threads "$BENCH_THREADS")
fi

echo "== kms-bench against keyhaven ($keyhaven_url)" >&2
"$bench_bin" --endpoint "$keyhaven_url" "${bench_args[@]}" >"$work/keyhaven.json"
echo "== kms-bench against moto ($moto_url)" >&2
"$bench_bin" --endpoint "$moto_url" "${bench_args[@]}" >"$work/moto.json"

cores="$(nproc)"
echo
echo "KMS benchmark: keyhaven $(git -C "$repo" describe --always --dirty 2>/dev/null || echo '?') vs moto $(python3 -c 'import moto; print(moto.__version__)' 2>/dev/null || echo '?')"
echo "concurrency $CONCURRENCY, ${DURATION} s per operation after ${WARMUP} s warm-up, ${PLAINTEXT_BYTES}-byte plaintexts"
echo "CAVEAT: keyhaven, moto and the load generator all share this machine's $cores CPU core(s) (load average at end:" \
  "$(cut -d' ' -f1-3 /proc/loadavg)); the figures are comparative, not either server's capacity."
echo
jq -r -n --slurpfile k "$work/keyhaven.json" --slurpfile m "$work/moto.json" '
  def f1: (. * 10 | round) / 10 | tostring;
  def f2: (. * 100 | round) / 100 | tostring;
  ["operation", "keyhaven req/s", "p50 ms", "p99 ms", "moto req/s", "p50 ms", "p99 ms", "ratio k/m"],
  ($k[0].results[] as $kr
   | ([$m[0].results[] | select(.operation == $kr.operation)] | first) as $mr
   | if $mr == null then
       [$kr.operation, ($kr.requests_per_s | f1), ($kr.p50_ms | f2), ($kr.p99_ms | f2), "unsupported", "-", "-", "n/a"]
     else
       [$kr.operation, ($kr.requests_per_s | f1), ($kr.p50_ms | f2), ($kr.p99_ms | f2),
        ($mr.requests_per_s | f1), ($mr.p50_ms | f2), ($mr.p99_ms | f2),
        (if $mr.requests_per_s > 0 then ($kr.requests_per_s / $mr.requests_per_s | f1) + "x" else "n/a" end)]
     end)
  | @tsv' | column -t -s $'\t'
echo
# Errors never count as throughput, but a run with errors is suspect: show them.
jq -r -n --slurpfile k "$work/keyhaven.json" --slurpfile m "$work/moto.json" '
  ([["keyhaven", $k[0]], ["moto", $m[0]]][] as [$name, $r] | $r.skipped[]?
   | "\($name) \(.operation): not measured (\(.reason))"),
  ([["keyhaven", $k[0]], ["moto", $m[0]]][] as [$name, $r] | $r.results[]
   | select(.errors > 0)
   | "\($name) \(.operation): \(.errors) errors (first: \(.first_error))"),
  ([["keyhaven", $k[0]], ["moto", $m[0]]][] as [$name, $r] | $r.results[]
   | select(.connections_reopened > 0)
   | "\($name) \(.operation): server closed the connection after \(.connections_reopened) responses (no keep-alive)")'
