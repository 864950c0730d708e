#!/usr/bin/env bash
# Secrets Manager comparison: keyhaven vs moto (the peer), driven by secrets-bench with identical settings.
# Run by hand (bench/secrets.sh); deliberately not part of scripts/test or CI, since timings on shared machines are
# noise for a pass/fail gate.
#
# Both servers are seeded with the same SECRETS secrets (bench/secret_NNNNNN, JSON SecretStrings of about 100 bytes),
# then measured: GetSecretValue of random seeded secrets, and PutSecretValue of a new value to random seeded secrets,
# each under a fresh ClientRequestToken (so every put makes a version and moves AWSCURRENT).
#
# Settings (environment): DURATION (s, default 10), CONCURRENCY (default 32), WARMUP (s, default 1),
# OPERATIONS (default get-secret-value,put-secret-value), SECRETS (default 1000), SEED_CONCURRENCY (requests in flight
# while seeding, default 64), BENCH_THREADS (load-generator runtime threads; default one per core). Everything listens
# on and talks to 127.0.0.1 only.
# KEYHAVEN_BIN: a built binary to measure instead of this tree's (such as an older commit's).
set -euo pipefail

DURATION="${DURATION:-10}"
CONCURRENCY="${CONCURRENCY:-32}"
WARMUP="${WARMUP:-1}"
OPERATIONS="${OPERATIONS:-get-secret-value,put-secret-value}"
SECRETS="${SECRETS:-1000}"
SEED_CONCURRENCY="${SEED_CONCURRENCY:-64}"
BENCH_THREADS="${BENCH_THREADS:-}"

repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"

for tool in cargo curl moto_server python3; do
  command -v "$tool" >/dev/null || { echo "secrets.sh: $tool is required" >&2; exit 1; }
done

echo "== building (release): keyhaven, secrets-bench" >&2
cargo build --release --quiet -p keyhaven -p keyhaven-bench
target_dir="${CARGO_TARGET_DIR:-$repo/target}"
keyhaven_bin="${KEYHAVEN_BIN:-$target_dir/release/keyhaven}"
bench_bin="$target_dir/release/secrets-bench"

work="$(mktemp -d "${TMPDIR:-/tmp}/keyhaven-secrets-bench.XXXXXX")"
script=secrets.sh
# shellcheck source=bench/servers.sh
source "$repo/bench/servers.sh"
start_servers

bench_args=(--duration "$DURATION" --warmup "$WARMUP" --concurrency "$CONCURRENCY" --operations "$OPERATIONS"
  --secrets "$SECRETS" --seed-concurrency "$SEED_CONCURRENCY" --json)
if [ -n "$BENCH_THREADS" ]; then
  bench_args+=(--threads "$BENCH_THREADS")
fi

echo "== secrets-bench against keyhaven ($keyhaven_url)" >&2
"$bench_bin" --endpoint "$keyhaven_url" "${bench_args[@]}" >"$work/keyhaven.json"
echo "== secrets-bench against moto ($moto_url)" >&2
"$bench_bin" --endpoint "$moto_url" "${bench_args[@]}" >"$work/moto.json"

echo
echo "Secrets Manager benchmark: keyhaven $(git -C "$repo" describe --always --dirty 2>/dev/null || echo '?')" \
  "vs moto $(python3 -c 'import moto; print(moto.__version__)' 2>/dev/null || echo '?')"
echo "concurrency $CONCURRENCY, ${DURATION} s per operation after ${WARMUP} s warm-up; $SECRETS secrets seeded on" \
  "each server with $SEED_CONCURRENCY requests in flight"
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


print("Seeding (CreateSecret)")
rows = [["server", "secrets", "created", "seconds", "creates/s"]]
for label, run in [("keyhaven", kh), ("moto", moto)]:
    s = run["seed"]
    rows.append([label, f"{s['secrets']:,}", f"{s['created']:,}", f"{s['seconds']:.1f}", f"{s['creates_per_s']:.0f}"])
rows.append(["ratio k/m", "", "", "", ratio(kh["seed"]["creates_per_s"], moto["seed"]["creates_per_s"])])
table(rows)

print(f"Closed loop, both servers holding {kh['secrets']:,} secrets")
head = ["req/s", "p50 ms", "p99 ms"]
fig = lambda r: [f"{r['requests_per_s']:.1f}", f"{r['p50_ms']:.2f}", f"{r['p99_ms']:.2f}"]
mp = {r["operation"]: r for r in moto["results"]}
rows = [["operation", "keyhaven " + head[0], *head[1:], "moto " + head[0], *head[1:], "ratio k/m"]]
for k in kh["results"]:
    m = mp[k["operation"]]
    rows.append([k["operation"], *fig(k), *fig(m), ratio(k["requests_per_s"], m["requests_per_s"])])
table(rows)

# Errors never count as throughput, but a run with errors is suspect: show them.
for label, run in [("keyhaven", kh), ("moto", moto)]:
    if run["seed"]["retries"]:
        print(f"{label} seeding: {run['seed']['retries']} retried requests")
    for r in run["results"]:
        if r["errors"]:
            print(f"{label} {r['operation']}: {r['errors']} errors (first: {r['first_error']})")
        if r["connections_reopened"]:
            print(f"{label} {r['operation']}: server closed the connection after {r['connections_reopened']}"
                  " responses (no keep-alive)")
PY
