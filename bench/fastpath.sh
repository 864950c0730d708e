#!/usr/bin/env bash
# The fast path against the machine's ceiling: one KMS Encrypt signed by an IAM user (SigV4 verification, the
# user's policy and the key policy evaluated, AES-GCM and an audit record on every request) replayed by wrk over
# keep-alive connections against keyhaven, and a fixed 200 from nginx on the same machine in the same run. Reports
# both rates and their ratio.
# Run by hand (bench/fastpath.sh); not part of scripts/test or CI. Needs wrk and nginx (apt-get install -y wrk nginx)
# and python3 with botocore (to sign the request).
#
# Settings (environment): DURATION (s, default 10), CONNECTIONS (default 16), THREADS (wrk threads, default 2),
# WARMUP (s, default 2), KEYHAVEN_BIN (a built binary to measure instead of this tree's, such as an older commit's).
# AWS accepts a signed request for 15 minutes, so DURATION stays well below that.
set -euo pipefail

DURATION="${DURATION:-10}"
CONNECTIONS="${CONNECTIONS:-16}"
THREADS="${THREADS:-2}"
WARMUP="${WARMUP:-2}"

repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"

for tool in cargo curl wrk nginx python3; do
  command -v "$tool" >/dev/null || { echo "fastpath.sh: $tool is required (apt-get install -y wrk nginx)" >&2; exit 1; }
done

echo "== building (release): keyhaven" >&2
cargo build --release --quiet -p keyhaven
target_dir="${CARGO_TARGET_DIR:-$repo/target}"
keyhaven_bin="${KEYHAVEN_BIN:-$target_dir/release/keyhaven}"

work="$(mktemp -d "${TMPDIR:-/tmp}/keyhaven-fastpath.XXXXXX")"
script=fastpath.sh
# shellcheck source=bench/servers.sh
source "$repo/bench/servers.sh"
start_keyhaven

# The ceiling: nginx, one worker, answering every request with a fixed 200 from memory.
nginx_port="$(free_port)"
cat >"$work/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx.log;
events { worker_connections 1024; }
http {
  access_log off;
  server { listen 127.0.0.1:$nginx_port; location / { return 200 '{"ok":true}'; } }
}
EOF
nginx -c "$work/nginx.conf" &
ceiling_pid=$!
nginx_url="http://127.0.0.1:$nginx_port"
wait_until "[ \"\$(curl -s -o /dev/null -w '%{http_code}' '$nginx_url/')\" = 200 ]" nginx

# A key, an IAM user allowed to encrypt under it, and one Encrypt request signed with the user's access key, as a
# wrk script: the signature is verified and the user's policy evaluated on every request. (In --dev an unknown key
# is an account root taken on trust, its signature unchecked; a user's key is always verified.)
KEYHAVEN_URL="$keyhaven_url" LUA="$work/encrypt.lua" python3 - <<'EOF'
import json, os
import boto3, botocore.auth, botocore.awsrequest, botocore.credentials

url = os.environ["KEYHAVEN_URL"] + "/"
admin = dict(endpoint_url=url, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
key = boto3.client("kms", **admin).create_key()["KeyMetadata"]["KeyId"]
iam = boto3.client("iam", **admin)
iam.create_user(UserName="fastpath")
iam.put_user_policy(UserName="fastpath", PolicyName="encrypt", PolicyDocument=json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "kms:Encrypt", "Resource": "*"}],
}))
access = iam.create_access_key(UserName="fastpath")["AccessKey"]
body = json.dumps({"KeyId": key, "Plaintext": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="})
request = botocore.awsrequest.AWSRequest(
    method="POST", url=url, data=body,
    headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "TrentService.Encrypt"})
credentials = botocore.credentials.Credentials(access["AccessKeyId"], access["SecretAccessKey"])
botocore.auth.SigV4Auth(credentials, "kms", "us-east-1").add_auth(request)
with open(os.environ["LUA"], "w") as lua:
    lua.write('wrk.method = "POST"\n')
    lua.write("wrk.body = %s\n" % json.dumps(body))
    for name, value in request.headers.items():
        lua.write('wrk.headers["%s"] = %s\n' % (name, json.dumps(str(value))))
EOF

# Requests/sec of one wrk run; fails when any answer was not a 2xx (a replay keyhaven refused measures nothing).
measure() {
  local url="$1" out
  shift
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP"s "$@" "$url/" >/dev/null
  out="$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION"s "$@" "$url/")"
  if grep -q "Non-2xx" <<<"$out"; then
    echo "$script: $url answered non-2xx:" >&2
    echo "$out" >&2
    exit 1
  fi
  sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p' <<<"$out"
}

echo "== wrk against nginx (fixed 200) and keyhaven (signed KMS Encrypt)" >&2
nginx_rate="$(measure "$nginx_url")"
keyhaven_rate="$(measure "$keyhaven_url" -s "$work/encrypt.lua")"

echo
echo "Fast path: keyhaven $(git rev-parse --short HEAD) KMS Encrypt vs nginx fixed 200"
echo "wrk $THREADS threads, $CONNECTIONS keep-alive connections, ${DURATION} s after ${WARMUP} s warm-up; $(nproc) cores shared by all"
printf '%-10s %12s\n' "server" "req/s"
printf '%-10s %12.0f\n' "nginx" "$nginx_rate"
printf '%-10s %12.0f\n' "keyhaven" "$keyhaven_rate"
python3 -c "print('ratio keyhaven/nginx: %.3f' % ($keyhaven_rate / $nginx_rate))"
