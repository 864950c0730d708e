#!/usr/bin/env bash
# Differential check: runs the evaluation table (../data/*.json) through @cloud-copilot/iam-simulate
# in a separate Node process and lists every case where it disagrees with keyhaven's expected
# decision. Not part of `cargo test`: it needs the npm registry. The package is installed into a
# temporary directory outside the repository and never vendored.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="${IAM_SIMULATE_DIR:-$(mktemp -d)}"
if [ ! -d "$work/node_modules/@cloud-copilot/iam-simulate" ]; then
  (cd "$work" && npm init -y >/dev/null && npm install --silent @cloud-copilot/iam-simulate >/dev/null)
fi
IAM_SIMULATE_DIR="$work" node "$here/compare.cjs" "$here/../data" "$@"
