#!/usr/bin/env bash
# SSM Parameter Store comparison: keyhaven vs moto (the peer), driven by ssm-bench with identical settings.
# Run by hand (bench/ssm.sh); deliberately not part of scripts/test or CI, since timings on shared machines are noise
# for a pass/fail gate.
#
# Both servers are seeded with a parameter hierarchy (/bench/app-AAAA/env-B/svc-C/param-DD, 10,000 per app, so
# /bench/app-0000 is a 10,000-parameter subtree), then measured: PutParameter of fresh names, GetParameter of random
# seeded names, GetParameter WithDecryption of SecureStrings, and GetParametersByPath on the subtree (first page, and
# full recursive walks following NextToken). moto is far slower to seed, so it gets MOTO_SEED_COUNT parameters;
# keyhaven is measured at that same size first (the like-for-like ratios), then seeded on to SEED_COUNT and measured
# again.
#
# Settings (environment): DURATION (s, default 10), CONCURRENCY (default 32), WARMUP (s, default 1),
# OPERATIONS (default put-parameter,get-parameter,get-parameter-secure,by-path), SEED_COUNT (keyhaven, default
# 1000000), MOTO_SEED_COUNT (default 20000), SEED_CONCURRENCY (requests in flight while seeding, default 64),
# FIRST_PAGE_CALLS (default 50), WALKS (default 5), WALK_BUDGET (s; no further walk starts after this, default 60),
# SSM_PARAMETER_LIMIT (keyhaven's Standard-parameter quota for the run, default 2000000), BENCH_THREADS
# (load-generator runtime threads; default one per core). Everything listens on and talks to 127.0.0.1 only.
# KEYHAVEN_BIN: a built binary to measure instead of this tree's (such as an older commit's).
#
# Disk: keyhaven's data directory (under TMPDIR) grows by about 3 KB per parameter put (parameter and version
# records, change event, audit record) and about 1 KB (the audit record) per other request: some 3 GB for the default
# SEED_COUNT, whose seeding takes minutes.
set -euo pipefail

DURATION="${DURATION:-10}"
CONCURRENCY="${CONCURRENCY:-32}"
WARMUP="${WARMUP:-1}"
OPERATIONS="${OPERATIONS:-put-parameter,get-parameter,get-parameter-secure,by-path}"
SEED_COUNT="${SEED_COUNT:-1000000}"
MOTO_SEED_COUNT="${MOTO_SEED_COUNT:-20000}"
SEED_CONCURRENCY="${SEED_CONCURRENCY:-64}"
FIRST_PAGE_CALLS="${FIRST_PAGE_CALLS:-50}"
WALKS="${WALKS:-5}"
WALK_BUDGET="${WALK_BUDGET:-60}"
SSM_PARAMETER_LIMIT="${SSM_PARAMETER_LIMIT:-2000000}"
BENCH_THREADS="${BENCH_THREADS:-}"

repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"

for tool in cargo curl moto_server python3; do
  command -v "$tool" >/dev/null || { echo "ssm.sh: $tool is required" >&2; exit 1; }
done
# The smaller size is the like-for-like one.
small=$((MOTO_SEED_COUNT < SEED_COUNT ? MOTO_SEED_COUNT : SEED_COUNT))

echo "== building (release): keyhaven, ssm-bench" >&2
cargo build --release --quiet -p keyhaven -p keyhaven-bench
target_dir="${CARGO_TARGET_DIR:-$repo/target}"
keyhaven_bin="${KEYHAVEN_BIN:-$target_dir/release/keyhaven}"
bench_bin="$target_dir/release/ssm-bench"

work="$(mktemp -d "${TMPDIR:-/tmp}/keyhaven-ssm-bench.XXXXXX")"
script=ssm.sh
# AWS's quota of 10,000 Standard parameters per account and Region would stop the seeding; the run raises it.
export KEYHAVEN_SSM_STANDARD_PARAMETER_LIMIT="$SSM_PARAMETER_LIMIT"
# shellcheck source=bench/servers.sh
source "$repo/bench/servers.sh"
start_servers

bench_args=(--duration "$DURATION" --warmup "$WARMUP" --concurrency "$CONCURRENCY" --operations "$OPERATIONS"
  --seed-concurrency "$SEED_CONCURRENCY" --first-page-calls "$FIRST_PAGE_CALLS" --walks "$WALKS"
  --walk-budget "$WALK_BUDGET" --json)
if [ -n "$BENCH_THREADS" ]; then
  bench_args+=(--threads "$BENCH_THREADS")
fi

# $1: label (and result file name), $2: endpoint, $3: seed from, $4: seed to.
bench() {
  echo "== ssm-bench against $1 ($2): seed $3..$4, then $OPERATIONS" >&2
  if ! "$bench_bin" --endpoint "$2" --seed-from "$3" --seed-to "$4" "${bench_args[@]}" >"$work/$1.json"; then
    echo "ssm.sh: ssm-bench against $1 failed (above). A ParameterLimitExceeded from keyhaven means this binary" \
      "predates KEYHAVEN_SSM_STANDARD_PARAMETER_LIMIT or SSM_PARAMETER_LIMIT=$SSM_PARAMETER_LIMIT is too low." >&2
    exit 1
  fi
}

bench "moto-small" "$moto_url" 0 "$small"
bench "keyhaven-small" "$keyhaven_url" 0 "$small"
full_runs=""
if [ "$SEED_COUNT" -gt "$small" ]; then
  bench "keyhaven-full" "$keyhaven_url" "$small" "$SEED_COUNT"
  full_runs="keyhaven-full"
fi

echo
echo "SSM Parameter Store benchmark: keyhaven $(git -C "$repo" describe --always --dirty 2>/dev/null || echo '?')" \
  "vs moto $(python3 -c 'import moto; print(moto.__version__)' 2>/dev/null || echo '?')"
echo "concurrency $CONCURRENCY, ${DURATION} s per operation after ${WARMUP} s warm-up; seeding with" \
  "$SEED_CONCURRENCY requests in flight"
echo "moto is seeded with $small parameters only (MOTO_SEED_COUNT; seeding it with $SEED_COUNT would take too long):" \
  "the like-for-like ratios are keyhaven at $small vs moto at $small."
echo "keyhaven's data directory at the end: $(du -sh "$work/keyhaven-data" | cut -f1) (SQLite database, WAL" \
  "and keys) for $SEED_COUNT seeded parameters plus the put-parameter phases' own"
echo "CAVEAT: keyhaven, moto and the load generator all share this machine's $(nproc) CPU core(s) (load average at" \
  "end: $(cut -d' ' -f1-3 /proc/loadavg)); the figures are comparative, not either server's capacity."
echo
python3 - "$work" "$small" "$SEED_COUNT" $full_runs <<'PY'
import json, sys

work, small, full = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
runs = {name: json.load(open(f"{work}/{name}.json")) for name in ["moto-small", "keyhaven-small", *sys.argv[4:]]}
moto, kh_small, kh_full = runs["moto-small"], runs["keyhaven-small"], runs.get("keyhaven-full")


def table(rows):
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
    print()


def ratio(a, b):
    return f"{a / b:.1f}x" if a and b else "n/a"


def phases(run):
    return {r["operation"]: r for r in run["results"]}


print("Seeding (PutParameter of fresh String parameters, in name order)")
rows = [["server", "parameters", "seconds", "puts/s"]]
for label, run in [("moto", moto), ("keyhaven", kh_small), ("keyhaven", kh_full)]:
    if run and run["seed"]:
        s = run["seed"]
        rows.append([label, f"{s['from']:,}..{s['to']:,}", f"{s['seconds']:.1f}", f"{s['puts_per_s']:.0f}"])
if len(rows) > 1:
    rows.append(["ratio k/m", "", "", ratio(kh_small["seed"]["puts_per_s"], moto["seed"]["puts_per_s"])])
    table(rows)

head = ["req/s", "p50 ms", "p99 ms"]
fig = lambda r: [f"{r['requests_per_s']:.1f}", f"{r['p50_ms']:.2f}", f"{r['p99_ms']:.2f}"]
mp = phases(moto)
if mp:
    print(f"Closed loop, both servers holding {small:,} hierarchy parameters (like for like)")
    rows = [["operation", "keyhaven " + head[0], *head[1:], "moto " + head[0], *head[1:], "ratio k/m"]]
    for op, k in phases(kh_small).items():
        m = mp[op]
        rows.append([op, *fig(k), *fig(m), ratio(k["requests_per_s"], m["requests_per_s"])])
    table(rows)
    if kh_full:
        print(f"Closed loop, keyhaven holding {full:,} (ratio against moto at {small:,}: not like for like)")
        rows = [["operation", "keyhaven " + head[0], *head[1:], f"ratio vs moto@{small:,}"]]
        for op, k in phases(kh_full).items():
            rows.append([op, *fig(k), ratio(k["requests_per_s"], mp[op]["requests_per_s"])])
        table(rows)

cols = [(f"keyhaven@{small:,}", kh_small), (f"moto@{small:,}", moto)] + ([(f"keyhaven@{full:,}", kh_full)] if kh_full else [])
bp = [(label, run["by_path"]) for label, run in cols if run["by_path"]]
if bp:
    b0 = bp[0][1]
    print(f"GetParametersByPath {b0['path']} (recursive, MaxResults={b0['max_results']}, one connection, sequential;"
          f" {b0['first_page']['calls']} first-page calls, median; walks follow NextToken to the end, median)")
    # Latencies: how many times less keyhaven takes than moto, like for like.
    speed = lambda key: ratio(moto["by_path"][key]["median_ms"], kh_small["by_path"][key]["median_ms"])
    rows = [["measure", "target", *(label for label, _ in bp), "moto ms / keyhaven ms"]]
    rows.append(["first page, median ms", "< 5", *(f"{b['first_page']['median_ms']:.3f}" for _, b in bp), speed("first_page")])
    rows.append(["full walk, median ms", "< 50", *(f"{b['walk']['median_ms']:.1f}" for _, b in bp), speed("walk")])
    rows.append(["  of which server ms", "", *(f"{b['walk']['server_median_ms']:.1f}" for _, b in bp), ""])
    rows.append(["  per page, mean ms", "", *(f"{b['walk']['per_page_mean_ms']:.3f}" for _, b in bp), ""])
    rows.append(["  walks x pages", "", *(f"{b['walk']['walks']} x {b['walk']['pages']}" for _, b in bp), ""])
    rows.append(["  parameters per walk", f"{b0['expected']}",
                 *("/".join(str(n) for n in sorted(set(b["walk"]["parameters"]))) for _, b in bp), ""])
    table(rows)
    print("A full walk is one HTTP request per page, one after the other: the 50 ms target would need under 50 us per"
          " request including the HTTP round trip; the per-page mean is the figure to watch.")
    for label, b in bp:
        if b["walk"]["problem"]:
            print(f"WALK CHECK FAILED on {label}: {b['walk']['problem']}")
    print()

# Errors never count as throughput, but a run with errors is suspect: show them.
for label, run in [("moto", moto), (f"keyhaven@{small:,}", kh_small), (f"keyhaven@{full:,}", kh_full)]:
    for r in (run or {"results": []})["results"]:
        if r["errors"]:
            print(f"{label} {r['operation']}: {r['errors']} errors (first: {r['first_error']})")
        if r["connections_reopened"]:
            print(f"{label} {r['operation']}: server closed the connection after {r['connections_reopened']}"
                  " responses (no keep-alive)")
PY
