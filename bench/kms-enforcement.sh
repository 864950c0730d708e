#!/usr/bin/env bash
# Cost of policy enforcement: KMS Encrypt throughput signed by the account root (allowed without
# evaluating identity policies) against an IAM user with several identity policies (inline, group,
# AWS managed) on a key whose default key policy delegates to IAM. Not part of any test run.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${DURATION:-8}"
CONCURRENCY="${CONCURRENCY:-32}"
target_dir="${CARGO_TARGET_DIR:-$PWD/target}"
cargo build --release --quiet -p keyhaven -p keyhaven-bench
work="$(mktemp -d "${TMPDIR:-/tmp}/keyhaven-enforcement-bench.XXXXXX")"
"$target_dir/release/keyhaven" serve --dev --account-id 111122223333 --listen 127.0.0.1:0 --data-dir "$work/data" > "$work/out" 2>/dev/null &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$work"' EXIT
until grep -q "listening on" "$work/out" 2>/dev/null; do sleep 0.1; done
endpoint=$(grep -o 'http://[0-9.:]*' "$work/out")
creds=$(ENDPOINT="$endpoint" python3 - <<'PY'
import json, os, boto3
kw = dict(endpoint_url=os.environ["ENDPOINT"], region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
iam = boto3.client("iam", **kw)
doc = lambda *s: json.dumps({"Version": "2012-10-17", "Statement": list(s)})
iam.create_group(GroupName="crypto")
iam.attach_group_policy(GroupName="crypto", PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")
iam.put_group_policy(GroupName="crypto", PolicyName="no-deletes", PolicyDocument=doc({"Effect": "Deny", "Action": ["kms:ScheduleKeyDeletion", "kms:DisableKey"], "Resource": "*"}))
iam.create_user(UserName="app")
iam.add_user_to_group(GroupName="crypto", UserName="app")
iam.put_user_policy(UserName="app", PolicyName="use", PolicyDocument=doc(
    {"Effect": "Allow", "Action": ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey*", "kms:CreateKey", "kms:DescribeKey"], "Resource": "*",
     "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
    {"Effect": "Allow", "Action": "kms:ReEncrypt*", "Resource": "arn:aws:kms:*:111122223333:key/*"}))
key = iam.create_access_key(UserName="app")["AccessKey"]
print(key["AccessKeyId"], key["SecretAccessKey"])
PY
)
read -r user_key user_secret <<< "$creds"
run() { "$target_dir/release/kms-bench" --endpoint "$endpoint" --duration "$DURATION" --concurrency "$CONCURRENCY" --operations encrypt --access-key "$1" --secret-key "$2" --json; }
root=$(run test test)
user=$(run "$user_key" "$user_secret")
python3 - "$root" "$user" <<'PY'
import json, sys
root, user = (json.loads(a) for a in sys.argv[1:3])
pick = lambda r: next(o for o in r["results"] if o["operation"] == "encrypt")
r, u = pick(root), pick(user)
rate = lambda o: o["requests_per_s"]
print("KMS Encrypt, 32 workers, keyhaven, kms-bench and nothing else on this machine's 2 cores")
assert r["errors"] == 0 and u["errors"] == 0, (r["first_error"], u["first_error"])
print(f"root (no identity policies):       {rate(r):8.0f} req/s  p50 {r['p50_ms']} ms  p99 {r['p99_ms']} ms")
print(f"IAM user, 4 policies + key policy: {rate(u):8.0f} req/s  p50 {u['p50_ms']} ms  p99 {u['p99_ms']} ms")
print(f"with enforcement / root: {rate(u) / rate(r):.0%}")
PY
