#!/usr/bin/env bash
# CloudTrail's event history on a large audit log: fills keyhaven's log with FILL_SECONDS of kms-bench Encrypt
# (tens of thousands of records a second) around a few rare events, then times LookupEvents queries, one call at a
# time through boto3. No peer: moto has no LookupEvents. Run by hand; not part of scripts/test or CI.
#
# Settings (environment): FILL_SECONDS (default 40), CONCURRENCY (default 32), LOOKUPS (calls per query, default 20).
# KEYHAVEN_BIN: a built binary to measure instead of this tree's.
set -euo pipefail

FILL_SECONDS="${FILL_SECONDS:-40}"
CONCURRENCY="${CONCURRENCY:-32}"
LOOKUPS="${LOOKUPS:-20}"

repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
echo "== building (release): keyhaven, kms-bench" >&2
cargo build --release --quiet -p keyhaven -p keyhaven-bench
target_dir="${CARGO_TARGET_DIR:-$repo/target}"
keyhaven_bin="${KEYHAVEN_BIN:-$target_dir/release/keyhaven}"

work="$(mktemp -d "${TMPDIR:-/tmp}/keyhaven-lookup-bench.XXXXXX")"
KEYHAVEN_LOG=warn "$keyhaven_bin" serve --dev --listen 127.0.0.1:0 --data-dir "$work/data" >"$work/out" 2>"$work/err" &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do
  url="$(sed -n 's/^keyhaven listening on \(http[^ ]*\).*/\1/p' "$work/out")"
  [ -n "$url" ] && break
  sleep 0.1
done

python3 - "$url" "before" <<'PY'
import sys, boto3
kms = boto3.client("kms", endpoint_url=sys.argv[1], region_name="us-east-1", aws_access_key_id="test",
                   aws_secret_access_key="test")
kms.create_key(Description=f"rare event {sys.argv[2]} the fill")
PY
echo "== filling the audit log: ${FILL_SECONDS} s of Encrypt with $CONCURRENCY workers" >&2
"$target_dir/release/kms-bench" --endpoint "$url" --operations encrypt --duration "$FILL_SECONDS" \
  --concurrency "$CONCURRENCY" 2>/dev/null | tail -2
python3 - "$url" "after" <<'PY'
import sys, boto3
kms = boto3.client("kms", endpoint_url=sys.argv[1], region_name="us-east-1", aws_access_key_id="test",
                   aws_secret_access_key="test")
kms.create_key(Description=f"rare event {sys.argv[2]} the fill")
PY
echo
echo "LookupEvents over the audit log ($(du -sh "$work/data" | cut -f1) data directory):"
python3 "$repo/bench/lookup_times.py" "$url" "$LOOKUPS" <<'JSON'
[["newest 50, no attribute", {}],
 ["EventName=Encrypt (nearly all)", {"LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "Encrypt"}]}],
 ["EventName=CreateKey (3 events, one at the start of the log)", {"LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "CreateKey"}]}],
 ["EventId of the oldest CreateKey", {"LookupAttributes": [{"AttributeKey": "EventId", "AttributeValue": "$OLDEST_CREATE_KEY_ID"}]}],
 ["EventName=NoSuchEvent (none)", {"LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "NoSuchEvent"}]}]]
JSON
