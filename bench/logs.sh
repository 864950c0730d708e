#!/usr/bin/env bash
# CloudWatch Logs comparison: keyhaven vs moto (the peer), driven by logs-bench with identical settings, then
# CloudTrail's LookupEvents on the audit log those runs left in keyhaven (moto has no LookupEvents: no peer figure).
# Run by hand (bench/logs.sh); deliberately not part of scripts/test or CI, since timings on shared machines are noise
# for a pass/fail gate.
#
# logs-bench creates /bench/logs with STREAMS streams, puts SEED_BATCHES batches of BATCH events into each, then runs
# PutLogEvents, GetLogEvents (limit 100) and FilterLogEvents (pattern ERROR, one stream) closed loops. With KMS=1
# keyhaven's group is created under a customer key (moto's without: it does not encrypt), so keyhaven pays a KMS
# data key per batch written and a decryption per batch read.
#
# Settings (environment): DURATION (s, default 10), CONCURRENCY (default 32), WARMUP (s, default 1), STREAMS (default
# 100), BATCH (default 10), SEED_BATCHES (default 10), KMS (default 0), LOOKUPS (LookupEvents calls per query,
# default 20), BENCH_THREADS (load-generator runtime threads; default one per core). KEYHAVEN_BIN: a built binary
# to measure instead of this tree's.
set -euo pipefail

DURATION="${DURATION:-10}"
CONCURRENCY="${CONCURRENCY:-32}"
WARMUP="${WARMUP:-1}"
STREAMS="${STREAMS:-100}"
BATCH="${BATCH:-10}"
SEED_BATCHES="${SEED_BATCHES:-10}"
KMS="${KMS:-0}"
LOOKUPS="${LOOKUPS:-20}"
BENCH_THREADS="${BENCH_THREADS:-}"

repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"

for tool in cargo curl moto_server python3; do
  command -v "$tool" >/dev/null || { echo "logs.sh: $tool is required" >&2; exit 1; }
done

echo "== building (release): keyhaven, logs-bench" >&2
cargo build --release --quiet -p keyhaven -p keyhaven-bench
target_dir="${CARGO_TARGET_DIR:-$repo/target}"
keyhaven_bin="${KEYHAVEN_BIN:-$target_dir/release/keyhaven}"
bench_bin="$target_dir/release/logs-bench"

work="$(mktemp -d "${TMPDIR:-/tmp}/keyhaven-logs-bench.XXXXXX")"
script=logs.sh
# shellcheck source=bench/servers.sh
source "$repo/bench/servers.sh"
start_servers

bench_args=(--duration "$DURATION" --warmup "$WARMUP" --concurrency "$CONCURRENCY" --streams "$STREAMS"
  --batch "$BATCH" --seed-batches "$SEED_BATCHES" --json)
if [ -n "$BENCH_THREADS" ]; then
  bench_args+=(--threads "$BENCH_THREADS")
fi
keyhaven_args=()
if [ "$KMS" = 1 ]; then
  key="$(python3 - "$keyhaven_url" <<'PY'
import json, sys, boto3
kms = boto3.client("kms", endpoint_url=sys.argv[1], region_name="us-east-1", aws_access_key_id="test",
                   aws_secret_access_key="test")
account = boto3.client("sts", endpoint_url=sys.argv[1], region_name="us-east-1", aws_access_key_id="test",
                       aws_secret_access_key="test").get_caller_identity()["Account"]
policy = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "kms:*", "Resource": "*"},
    {"Effect": "Allow", "Principal": {"Service": "logs.us-east-1.amazonaws.com"},
     "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:GenerateDataKey*", "kms:Describe*"], "Resource": "*"}]}
print(kms.create_key(Policy=json.dumps(policy))["KeyMetadata"]["Arn"])
PY
)"
  keyhaven_args=(--kms-key "$key")
fi

echo "== logs-bench against keyhaven ($keyhaven_url)" >&2
"$bench_bin" --endpoint "$keyhaven_url" "${bench_args[@]}" "${keyhaven_args[@]}" >"$work/keyhaven.json"
echo "== logs-bench against moto ($moto_url)" >&2
"$bench_bin" --endpoint "$moto_url" "${bench_args[@]}" >"$work/moto.json"

echo
echo "CloudWatch Logs benchmark: keyhaven $(git -C "$repo" describe --always --dirty 2>/dev/null || echo '?')" \
  "vs moto $(python3 -c 'import moto; print(moto.__version__)' 2>/dev/null || echo '?')"
echo "concurrency $CONCURRENCY, ${DURATION} s per operation after ${WARMUP} s warm-up; $STREAMS streams, batches of" \
  "$BATCH events; keyhaven's group under a KMS key: $([ "$KMS" = 1 ] && echo yes || echo no)"
echo "CAVEAT: keyhaven, moto and the load generator all share this machine's $(nproc) CPU core(s) (load average at" \
  "end: $(cut -d' ' -f1-3 /proc/loadavg)); the figures are comparative, not either server's capacity."
echo
python3 - "$work" <<'PY'
import json, sys

work = sys.argv[1]
runs = {name: json.load(open(f"{work}/{name}.json")) for name in ["keyhaven", "moto"]}
kh, moto = runs["keyhaven"], runs["moto"]


def table(rows):
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
    print()


def ratio(a, b):
    return f"{a / b:.1f}x" if a and b else "n/a"


head = ["req/s", "p50 ms", "p99 ms"]
fig = lambda r: [f"{r['requests_per_s']:.1f}", f"{r['p50_ms']:.2f}", f"{r['p99_ms']:.2f}"]
mp = {r["operation"]: r for r in moto["results"]}
rows = [["operation", "keyhaven " + head[0], *head[1:], "moto " + head[0], *head[1:], "ratio k/m"]]
for k in kh["results"]:
    m = mp[k["operation"]]
    rows.append([k["operation"], *fig(k), *fig(m), ratio(k["requests_per_s"], m["requests_per_s"])])
table(rows)
for label, run in [("keyhaven", kh), ("moto", moto)]:
    for r in run["results"]:
        if r["errors"]:
            print(f"{label} {r['operation']}: {r['errors']} errors (first: {r['first_error']})")

total = sum(r["requests"] for r in kh["results"])
print(f"LookupEvents over keyhaven's audit log after the run ({total} measured requests plus warm-up and seeding):")
PY
python3 "$repo/bench/lookup_times.py" "$keyhaven_url" "$LOOKUPS" <<'JSON'
[["newest 50, no attribute", {}],
 ["EventName=PutLogEvents (most events)", {"LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "PutLogEvents"}]}],
 ["EventName=CreateLogGroup (one event)", {"LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "CreateLogGroup"}]}],
 ["ResourceName=/bench/logs", {"LookupAttributes": [{"AttributeKey": "ResourceName", "AttributeValue": "/bench/logs"}]}],
 ["EventName=NoSuchEvent (none)", {"LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "NoSuchEvent"}]}]]
JSON
