#!/usr/bin/env bash
# The cost of attribution, in one run: builds linewatch at BASE (default
# 1bb5d8f, the last commit before the per-direction baseline) and at the
# working tree, times both on the bench captures (scripts/compare-speed.sh:
# instructions on 200k packets, best/median wall of RUNS runs on 5M), then
# prints precision and recall of `middlebox` (cargo bench --bench attribution).
#
#   scripts/bench-attribution.sh [RUNS] [BASE]
set -euo pipefail
runs=${1:-7} base=${2:-1bb5d8f}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'git -C "$root" worktree remove --force "$work/base" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
git -C "$root" worktree add --detach "$work/base" "$base" >/dev/null
(cd "$work/base" && CARGO_TARGET_DIR="$work/target-base" cargo build --release --locked -q)
(cd "$root" && cargo build --release --locked -q)
data=${BENCH_DATA:-$root/target/bench-data}
if [[ ! -f $data/synthetic-v1-5000000.pcap ]]; then
  (cd "$root" && cargo bench --bench replay >/dev/null)
fi
cp "$work/target-base/release/linewatch" "$work/linewatch-without"
cp "$root/target/release/linewatch" "$work/linewatch-with"
"$root/scripts/compare-speed.sh" "$data" "$runs" "$work/linewatch-without" "$work/linewatch-with"
(cd "$root" && cargo bench --bench attribution)
