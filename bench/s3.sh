#!/usr/bin/env bash
# S3 comparison: keyhaven vs moto (the peer), each driven by the same clients on the same machine:
# - rclone (Go, one fast client for both) PUTs and GETs one large object (SIZE_MIB, default 1024) as a multipart upload
#   and a multi-stream download, 8 parts in flight, with SSE-S3 and SSE-KMS; keyhaven's RSS is sampled meanwhile;
# - bench/s3_lean_client.py does the same with presigned UNSIGNED-PAYLOAD part uploads and ranged GETs, 8 in flight:
#   no payload hash and no client-side MD5, and GETs read into memory (then once more into a file, untimed, to
#   compare), so what remains is the server's own cost (rclone spends more CPU per byte than keyhaven does, on the
#   two cores both share, and writes what it reads to disk);
# - wrk replays presigned requests (signed with keyhaven's root credentials, so every one is verified): 4 KiB PUT,
#   4 KiB GET and a LIST of 100 keys, per second.
# Run by hand (bench/s3.sh); not part of scripts/test or CI: timings on shared machines are noise for a gate.
#
# Settings (environment): SIZE_MIB (default 1024), DURATION (wrk seconds per operation, default 10), CONNECTIONS
# (wrk connections, default 16), THREADS (wrk threads, default 2). KEYHAVEN_BIN: a built binary to measure instead.
set -euo pipefail

SIZE_MIB="${SIZE_MIB:-1024}"
DURATION="${DURATION:-10}"
CONNECTIONS="${CONNECTIONS:-16}"
THREADS="${THREADS:-2}"

repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
for tool in cargo curl wrk rclone moto_server python3; do
  command -v "$tool" >/dev/null || { echo "s3.sh: $tool is required (apt-get install -y wrk rclone)" >&2; exit 1; }
done

echo "== building (release): keyhaven" >&2
cargo build --release --quiet -p keyhaven
target_dir="${CARGO_TARGET_DIR:-$repo/target}"
keyhaven_bin="${KEYHAVEN_BIN:-$target_dir/release/keyhaven}"
python="${PYTHON:-$repo/.venv/bin/python}"

work="$(mktemp -d "${TMPDIR:-/tmp}/keyhaven-s3-bench.XXXXXX")"
script=s3.sh
# shellcheck source=bench/servers.sh
source "$repo/bench/servers.sh"
start_servers

# rclone remotes for both servers, from the environment; AWS_* settings of the machine are not rclone's business.
remote_env() { # name url
  local name="${1^^}"
  export "RCLONE_CONFIG_${name}_TYPE=s3" "RCLONE_CONFIG_${name}_PROVIDER=Other" "RCLONE_CONFIG_${name}_ENDPOINT=$2" \
    "RCLONE_CONFIG_${name}_ACCESS_KEY_ID=test" "RCLONE_CONFIG_${name}_SECRET_ACCESS_KEY=test" \
    "RCLONE_CONFIG_${name}_REGION=us-east-1" "RCLONE_CONFIG_${name}_FORCE_PATH_STYLE=true"
}
unset AWS_CA_BUNDLE
remote_env keyhaven "$keyhaven_url"
remote_env moto "$moto_url"
rc() { rclone --config /dev/null --s3-upload-concurrency 8 --s3-chunk-size 64M --multi-thread-streams 8 \
  --multi-thread-cutoff 64M "$@"; }

head -c "$((SIZE_MIB * 1024 * 1024))" /dev/urandom >"$work/big"
bytes="$(stat -c %s "$work/big")"

# Seconds (3 decimals) a command takes.
timed() {
  local start end
  start="$(date +%s.%N)"
  "$@" >/dev/null
  end="$(date +%s.%N)"
  python3 -c "print(f'{$end - $start:.3f}')"
}

# Largest RSS (MiB) of $1 while the rest of the arguments run.
peak_rss() {
  local pid="$1" peak=0 rss
  shift
  "$@" >/dev/null &
  local job=$!
  while kill -0 "$job" 2>/dev/null; do
    rss="$(ps -o rss= -p "$pid" | tr -d ' ')"
    [ -n "$rss" ] && [ "$rss" -gt "$peak" ] && peak="$rss"
    sleep 0.05
  done
  wait "$job"
  echo "$((peak / 1024))"
}

root_key="$(awk '/aws_access_key_id/ {print $3}' "$work/keyhaven-data/root-credentials")"
root_secret="$(awk '/aws_secret_access_key/ {print $3}' "$work/keyhaven-data/root-credentials")"
declare -A put get rss lean_put lean_get cpu_put cpu_get
# CPU seconds (user + system) a process has used.
cpu_seconds() { awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$1/stat"; }
# Nanoseconds of CPU per byte moved since $2 CPU seconds.
cpu_per_byte() { python3 -c "print(f'{($(cpu_seconds "$1") - $2) * 1e9 / $bytes:.2f}')"; }
for target in keyhaven:sse-s3 keyhaven:sse-kms moto:sse-s3 moto:sse-kms; do
  remote="${target%%:*}"
  mode="${target##*:}"
  flags=()
  [ "$mode" = sse-kms ] && flags=(--s3-server-side-encryption aws:kms)
  bucket="bench-$mode"
  rc mkdir "$remote:$bucket" >/dev/null 2>&1 || true
  echo "== $remote $mode: PUT then GET of $SIZE_MIB MiB" >&2
  put[$target]="$(timed rc copyto "${flags[@]}" "$work/big" "$remote:$bucket/big")"
  rm -f "$work/big.out"
  if [ "$remote" = keyhaven ]; then
    rss[$target]="$(peak_rss "$keyhaven_pid" rc copyto "$remote:$bucket/big" "$work/big.out")"
    get[$target]="$(timed rc copyto "$remote:$bucket/big" "$work/big.out2")"
    rm -f "$work/big.out2"
  else
    get[$target]="$(timed rc copyto "$remote:$bucket/big" "$work/big.out")"
    rss[$target]="-"
  fi
  cmp -s "$work/big" "$work/big.out" || { echo "s3.sh: $target read back something else" >&2; exit 1; }
  rm -f "$work/big.out"
  echo "== $remote $mode: lean client PUT then GET of $SIZE_MIB MiB" >&2
  lean=("$python" "$repo/bench/s3_lean_client.py")
  if [ "$remote" = keyhaven ]; then
    credentials=("$keyhaven_url" "$root_key" "$root_secret")
  else
    credentials=("$moto_url" test test)
  fi
  sse=()
  [ "$mode" = sse-kms ] && sse=(aws:kms)
  [ "$remote" = keyhaven ] && cpu_before="$(cpu_seconds "$keyhaven_pid")"
  lean_put[$target]="$("${lean[@]}" put "${credentials[@]}" "$bucket" lean "$work/big" 8 "${sse[@]}")"
  [ "$remote" = keyhaven ] && cpu_put[$target]="$(cpu_per_byte "$keyhaven_pid" "$cpu_before")"
  [ "$remote" = keyhaven ] && cpu_before="$(cpu_seconds "$keyhaven_pid")"
  lean_get[$target]="$("${lean[@]}" get "${credentials[@]}" "$bucket" lean - 8)"
  [ "$remote" = keyhaven ] && cpu_get[$target]="$(cpu_per_byte "$keyhaven_pid" "$cpu_before")"
  "${lean[@]}" get "${credentials[@]}" "$bucket" lean "$work/big.out" 8 >/dev/null
  cmp -s "$work/big" "$work/big.out" || { echo "s3.sh: $target read back something else (lean)" >&2; exit 1; }
  rm -f "$work/big.out"
done
rm -f "$work/big"

# Presigned URLs for the small operations (keyhaven's signed with its root credentials, so each is verified).
"$python" - "$work" "$keyhaven_url" "$moto_url" <<'PY'
import configparser, os, sys
import boto3
from botocore.config import Config
work, keyhaven, moto = sys.argv[1:4]
creds = configparser.ConfigParser()
creds.read(os.path.join(work, "keyhaven-data", "root-credentials"))
section = creds[creds.sections()[0]]
for name, url, key, secret in [("keyhaven", keyhaven, section["aws_access_key_id"], section["aws_secret_access_key"]),
                               ("moto", moto, "test", "test")]:
    s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id=key,
                      aws_secret_access_key=secret, config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
    s3.create_bucket(Bucket="bench-small")
    for i in range(100):
        s3.put_object(Bucket="bench-small", Key=f"list/{i:03}", Body=b"x" * 4096)
    s3.put_object(Bucket="bench-small", Key="small", Body=b"x" * 4096)
    urls = {
        "get": s3.generate_presigned_url("get_object", Params={"Bucket": "bench-small", "Key": "small"}, ExpiresIn=3600),
        "put": s3.generate_presigned_url("put_object", Params={"Bucket": "bench-small", "Key": "put"}, ExpiresIn=3600),
        "list": s3.generate_presigned_url("list_objects_v2", Params={"Bucket": "bench-small", "Prefix": "list/"},
                                          ExpiresIn=3600),
    }
    for op, url in urls.items():
        with open(os.path.join(work, f"{name}-{op}.url"), "w") as f:
            f.write(url)
with open(os.path.join(work, "put.lua"), "w") as f:
    f.write('wrk.method = "PUT"\nwrk.body = string.rep("x", 4096)\n'
            'wrk.headers["Content-Type"] = "application/octet-stream"\n')
PY

# Requests/sec of one wrk run, counting only 2xx answers. keyhaven must answer every request with a 2xx (a refused
# replay measures nothing); the peer's failures are reported beside its rate.
wrk_rate() { # server url [lua]
  local args=(-t "$THREADS" -c "$CONNECTIONS" -d "${DURATION}s")
  [ -n "${3:-}" ] && args+=(-s "$3")
  local out failed total seconds
  out="$(wrk "${args[@]}" "$2")"
  failed="$(awk '/Non-2xx/ {print $NF}' <<<"$out")"
  failed="${failed:-0}"
  if [ "$1" = keyhaven ] && [ "$failed" != 0 ]; then
    echo "s3.sh: keyhaven answered $failed requests with a non-2xx" >&2
    echo "$out" >&2
    exit 1
  fi
  total="$(awk '/requests in/ {print $1}' <<<"$out")"
  seconds="$(awk '/requests in/ {sub(/s,$/, "", $4); print $4}' <<<"$out")"
  python3 -c "print(f'{($total - $failed) / $seconds:.0f}' + ('' if $failed == 0 else ' ($failed failed)'))"
}

declare -A small
for name in keyhaven moto; do
  for op in get put list; do
    echo "== wrk $op against $name" >&2
    lua=""
    [ "$op" = put ] && lua="$work/put.lua"
    small[$name:$op]="$(wrk_rate "$name" "$(cat "$work/$name-$op.url")" "$lua")"
  done
done

mbps() { python3 -c "print(f'{$bytes / 1e6 / $1:.0f}')"; }
ratio() { python3 -c "print(f'{$1 / $2:.1f}')"; }
cores="$(nproc)"
echo
echo "S3 benchmark: keyhaven $(git -C "$repo" describe --always --dirty 2>/dev/null || echo '?') vs moto $(python3 -c 'import moto; print(moto.__version__)' 2>/dev/null || echo '?')"
echo "CAVEAT: both servers and the clients share this machine's $cores core(s); rclone and wrk are included in the"
echo "figures, which are comparative, not either server's capacity."
echo
printf '%-10s %-8s %14s %14s %16s %16s %16s\n' server mode "rclone PUT MB/s" "rclone GET MB/s" \
  "peak RSS MiB (GET)" "lean PUT MB/s" "lean GET MB/s"
for target in keyhaven:sse-s3 keyhaven:sse-kms moto:sse-s3 moto:sse-kms; do
  printf '%-10s %-8s %14s %14s %16s %16s %16s\n' "${target%%:*}" "${target##*:}" "$(mbps "${put[$target]}")" \
    "$(mbps "${get[$target]}")" "${rss[$target]}" "$(mbps "${lean_put[$target]}")" "$(mbps "${lean_get[$target]}")"
done
echo
for mode in sse-s3 sse-kms; do
  echo "keyhaven $mode server CPU per byte (lean client): PUT ${cpu_put[keyhaven:$mode]} ns, GET ${cpu_get[keyhaven:$mode]} ns"
done
echo "this machine, one core (openssl speed, 64 KiB blocks):" \
  "$(openssl speed -seconds 1 -bytes 65536 md5 sha256 2>/dev/null | awk '/^(md5|sha256) / {printf "%s %.0f MB/s  ", $1, $2 / 1000}')" \
  "$(openssl speed -seconds 1 -bytes 65536 -evp aes-256-gcm 2>/dev/null | awk '/^AES-256-GCM/ {printf "AES-256-GCM %.0f MB/s", $2 / 1000}')"
echo "this machine's disk, 1 GiB written and fsynced (dd):" \
  "$(dd if=/dev/zero of="$work/dd" bs=4M count=256 conv=fsync 2>&1 | awk -F', ' '/copied/ {print $NF}')"
rm -f "$work/dd"
echo
printf '%-6s %16s %24s %10s\n' op "keyhaven req/s" "moto req/s (2xx)" "ratio"
for op in get put list; do
  printf '%-6s %16s %24s %10s\n' "$op" "${small[keyhaven:$op]}" "${small[moto:$op]}" \
    "$(ratio "${small[keyhaven:$op]%% *}" "${small[moto:$op]%% *}")"
done
echo
for mode in sse-s3 sse-kms; do
  echo "$mode large-object ratios keyhaven/moto: rclone PUT $(ratio "${put[moto:$mode]}" "${put[keyhaven:$mode]}"), GET $(ratio "${get[moto:$mode]}" "${get[keyhaven:$mode]}"); lean PUT $(ratio "${lean_put[moto:$mode]}" "${lean_put[keyhaven:$mode]}"), GET $(ratio "${lean_get[moto:$mode]}" "${lean_get[keyhaven:$mode]}")"
done
