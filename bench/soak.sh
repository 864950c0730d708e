#!/usr/bin/env bash
# Soak: keyhaven (release, --dev, default audit settings) under sustained KMS Encrypt load from kms-bench, sampling
# the server's resident memory and its data directory every 10 s. Run by hand (bench/soak.sh); not part of
# scripts/test or CI.
#
# It answers two questions: does memory stay flat once warmed up (the end within 10 MB of where it stood after the
# first minute), and how many bytes of disk each request costs (mostly its audit record).
#
# Settings (environment): DURATION (s, default 1800), CONCURRENCY (default 32), SAMPLE_EVERY (s, default 10).
# Everything listens on and talks to 127.0.0.1 only.
set -euo pipefail

DURATION="${DURATION:-1800}"
CONCURRENCY="${CONCURRENCY:-32}"
SAMPLE_EVERY="${SAMPLE_EVERY:-10}"

repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
for tool in cargo curl jq; do
  command -v "$tool" >/dev/null || { echo "soak.sh: $tool is required" >&2; exit 1; }
done

echo "== building (release): keyhaven, kms-bench" >&2
cargo build --release --quiet -p keyhaven -p keyhaven-bench
target_dir="${CARGO_TARGET_DIR:-$repo/target}"
work="$(mktemp -d "${TMPDIR:-/tmp}/keyhaven-soak.XXXXXX")"
data="$work/keyhaven-data"
server_pid=""
sampler_pid=""
cleanup() {
  for pid in "$sampler_pid" "$server_pid"; do
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$target_dir/release/keyhaven" serve --dev --listen 127.0.0.1:0 --data-dir "$data" >"$work/out" 2>"$work/log" &
server_pid=$!
for _ in $(seq 300); do
  grep -q '^keyhaven listening on ' "$work/out" && break
  sleep 0.1
done
url="$(sed -n 's/^keyhaven listening on \(http:\/\/127\.0\.0\.1:[0-9]*\).*/\1/p' "$work/out" | head -n1)"
[ -n "$url" ] || { echo "soak.sh: keyhaven did not start" >&2; cat "$work/log" >&2; exit 1; }

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$server_pid/status"; }
disk_kb() { du -sk "$data" | cut -f1; }

(
  start=$(date +%s)
  while kill -0 "$server_pid" 2>/dev/null; do
    printf '%s %s %s\n' "$(( $(date +%s) - start ))" "$(rss_kb)" "$(disk_kb)"
    sleep "$SAMPLE_EVERY"
  done
) >"$work/samples" &
sampler_pid=$!

disk_before=$(disk_kb)
"$target_dir/release/kms-bench" --endpoint "$url" --operations encrypt --duration "$DURATION" --warmup 0 \
  --concurrency "$CONCURRENCY" --json >"$work/bench.json"
kill "$sampler_pid" 2>/dev/null || true
wait "$sampler_pid" 2>/dev/null || true
sampler_pid=""
disk_after=$(disk_kb)

requests=$(jq '[.results[].requests] | add' "$work/bench.json")
errors=$(jq '[.results[].errors] | add' "$work/bench.json")
rate=$(jq '[.results[].requests_per_s] | add | round' "$work/bench.json")
echo "KMS Encrypt soak: $DURATION s at concurrency $CONCURRENCY, $requests requests ($rate req/s), $errors errors"
echo "elapsed_s rss_mb data_dir_mb"
awk '{ printf "%9d %6.1f %11.1f\n", $1, $2 / 1024, $3 / 1024 }' "$work/samples"
awk -v requests="$requests" -v before="$disk_before" -v after="$disk_after" -v duration="$DURATION" '
  $1 >= 60 && settled == "" { settled = $2 }
  { last = $2 }
  END {
    printf "RSS after the first minute %.1f MB, at the end %.1f MB: %+.1f MB\n", settled / 1024, last / 1024, (last - settled) / 1024
    printf "data directory grew %.1f MB: %.0f bytes a request, %.1f MB a minute\n",
      (after - before) / 1024, (after - before) * 1024 / requests, (after - before) / 1024 / (duration / 60)
  }' "$work/samples"
