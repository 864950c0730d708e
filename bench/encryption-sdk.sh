#!/usr/bin/env bash
# Encryption SDK messages: `keyhaven encrypt/decrypt` vs aws-encryption-cli (the peer) on the same file, under the
# same KMS key on a keyhaven server, with each tool's defaults (algorithm suite 0x0578: committing, ECDSA P-384
# signed; 4 KiB frames). Reports throughput, ratios and peak memory, and the machine's ceiling for a signed message:
# the signature covers the whole message, so one core's SHA-384 (openssl dgst) bounds it. Also keyhaven with the
# unsigned committing suite 0x0478, whose frames alone scale with cores. Two ceilings: SHA-384 on one core through
# keyhaven's own cryptography (aws-lc; on AMD CPUs aws-lc takes its portable SHA-512 code, which is slower than
# OpenSSL's assembly) and through the openssl CLI, for reference.
# Run by hand (bench/encryption-sdk.sh); not part of scripts/test or CI, since timings on shared machines are noise
# for a pass/fail gate.
#
# Settings (environment): SIZE_MIB (default 1024). KEYHAVEN_BIN: a built binary to measure instead of this tree's.
# aws-encryption-cli comes from ./.venv (scripts/test installs it) or PATH.
set -euo pipefail

SIZE_MIB="${SIZE_MIB:-1024}"
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
peer="$repo/.venv/bin/aws-encryption-cli"
[ -x "$peer" ] || peer="$(command -v aws-encryption-cli || true)"
for tool in cargo curl python3 openssl /usr/bin/time "$peer"; do
  command -v "$tool" >/dev/null || { echo "encryption-sdk.sh: $tool is required" >&2; exit 1; }
done

echo "== building (release): keyhaven" >&2
cargo build --release --quiet -p keyhaven -p keyhaven-bench
target_dir="${CARGO_TARGET_DIR:-$repo/target}"
keyhaven_bin="${KEYHAVEN_BIN:-$target_dir/release/keyhaven}"

work="$(mktemp -d "${TMPDIR:-/tmp}/keyhaven-esdk-bench.XXXXXX")"
script=encryption-sdk.sh
# shellcheck source=bench/servers.sh
source "$repo/bench/servers.sh"
start_keyhaven

export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_ENDPOINT_URL="$keyhaven_url"
key="$(python3 -c 'import boto3; print(boto3.client("kms").create_key()["KeyMetadata"]["Arn"])')"

echo "== writing a ${SIZE_MIB} MiB input" >&2
head -c "$((SIZE_MIB << 20))" /dev/urandom >"$work/plain"
bytes=$((SIZE_MIB << 20))

# Runs "$@" under /usr/bin/time; prints "<seconds> <peak RSS KiB>".
measure() {
  /usr/bin/time -f "%e %M" -o "$work/time" "$@" >/dev/null 2>"$work/stderr" || { cat "$work/stderr" >&2; exit 1; }
  cat "$work/time"
}

rate() { python3 -c "import sys; print(f'{$bytes / float(sys.argv[1]) / 1e6:8.0f}')" "$1"; }

echo "== timing" >&2
read -r ceiling_s _ < <(measure openssl dgst -sha384 "$work/plain")
awslc_rate="$("$target_dir/release/sha384-rate" "$SIZE_MIB")"
read -r kh_enc_s kh_enc_kib < <(measure "$keyhaven_bin" encrypt -i "$work/plain" -o "$work/kh.enc" -w "key=$key" -S)
read -r kh_dec_s kh_dec_kib < <(measure "$keyhaven_bin" decrypt -i "$work/kh.enc" -o "$work/kh.dec" -w "key=$key" -S)
cmp -s "$work/plain" "$work/kh.dec" || { echo "keyhaven round trip differs" >&2; exit 1; }
rm -f "$work/kh.dec"
read -r kh_u_enc_s kh_u_enc_kib < <(measure "$keyhaven_bin" encrypt -i "$work/plain" -o "$work/khu.enc" -w "key=$key" \
  -S --algorithm AES_256_GCM_HKDF_SHA512_COMMIT_KEY)
read -r kh_u_dec_s kh_u_dec_kib < <(measure "$keyhaven_bin" decrypt -i "$work/khu.enc" -o "$work/khu.dec" -w "key=$key" -S)
rm -f "$work/khu.enc" "$work/khu.dec"
read -r peer_enc_s peer_enc_kib < <(measure "$peer" -e -i "$work/plain" -o "$work/peer.enc" -w "key=$key" -S)
read -r peer_dec_s peer_dec_kib < <(measure "$peer" -d -i "$work/peer.enc" -o "$work/peer.dec" -w "key=$key" -S)
cmp -s "$work/plain" "$work/peer.dec" || { echo "aws-encryption-cli round trip differs" >&2; exit 1; }
rm -f "$work/peer.enc" "$work/peer.dec"
read -r peer_u_enc_s peer_u_enc_kib < <(measure "$peer" -e -i "$work/plain" -o "$work/peeru.enc" -w "key=$key" -S \
  --algorithm AES_256_GCM_HKDF_SHA512_COMMIT_KEY)
read -r peer_u_dec_s peer_u_dec_kib < <(measure "$peer" -d -i "$work/peeru.enc" -o "$work/peeru.dec" -w "key=$key" -S)

cores="$(nproc)"
printf '\n%s MiB, %s cores; MB/s (10^6 bytes), peak RSS\n' "$SIZE_MIB" "$cores"
printf '%-44s %8s %10s\n' "" "MB/s" "RSS MiB"
printf '%-44s %8s %10s\n' "ceiling: SHA-384 on one core (aws-lc)" "$awslc_rate" "-"
printf '%-44s %8s %10s\n' "SHA-384 on one core (openssl CLI)" "$(rate "$ceiling_s")" "-"
printf '%-44s %8s %10s\n' "keyhaven encrypt (0x0578)" "$(rate "$kh_enc_s")" "$((kh_enc_kib / 1024))"
printf '%-44s %8s %10s\n' "keyhaven decrypt (0x0578)" "$(rate "$kh_dec_s")" "$((kh_dec_kib / 1024))"
printf '%-44s %8s %10s\n' "keyhaven encrypt (0x0478, unsigned)" "$(rate "$kh_u_enc_s")" "$((kh_u_enc_kib / 1024))"
printf '%-44s %8s %10s\n' "keyhaven decrypt (0x0478, unsigned)" "$(rate "$kh_u_dec_s")" "$((kh_u_dec_kib / 1024))"
printf '%-44s %8s %10s\n' "aws-encryption-cli encrypt (0x0578)" "$(rate "$peer_enc_s")" "$((peer_enc_kib / 1024))"
printf '%-44s %8s %10s\n' "aws-encryption-cli decrypt (0x0578)" "$(rate "$peer_dec_s")" "$((peer_dec_kib / 1024))"
printf '%-44s %8s %10s\n' "aws-encryption-cli encrypt (0x0478, unsigned)" "$(rate "$peer_u_enc_s")" "$((peer_u_enc_kib / 1024))"
printf '%-44s %8s %10s\n' "aws-encryption-cli decrypt (0x0478, unsigned)" "$(rate "$peer_u_dec_s")" "$((peer_u_dec_kib / 1024))"
python3 - "$peer_enc_s" "$kh_enc_s" "$peer_dec_s" "$kh_dec_s" "$awslc_rate" "$bytes" \
  "$peer_u_enc_s" "$kh_u_enc_s" "$peer_u_dec_s" "$kh_u_dec_s" <<'PY'
import sys
pe, ke, pd, kd, ceiling, size, pue, kue, pud, kud = map(float, sys.argv[1:])
print(f"\nkeyhaven vs aws-encryption-cli, signed 0x0578: encrypt {pe / ke:.1f}x, decrypt {pd / kd:.1f}x faster "
      f"(at {size / ke / 1e6 / ceiling * 100:.0f}% and {size / kd / 1e6 / ceiling * 100:.0f}% of the aws-lc SHA-384 ceiling); "
      f"unsigned 0x0478: encrypt {pue / kue:.1f}x, decrypt {pud / kud:.1f}x faster")
PY
