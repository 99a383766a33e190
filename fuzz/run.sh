#!/usr/bin/env bash
# Runs the fuzz targets, SECONDS each, two at a time (one a core), from
# the committed seeds and minimized corpus (corpus-min/, made with
# `cargo fuzz cmin` from the runs so far) plus what earlier runs on this
# machine found (fuzz/corpus, not committed), and prints each run's final libFuzzer statistics.
# RUSTC_BOOTSTRAP=1 lets cargo-fuzz's nightly flags (sanitizer coverage,
# AddressSanitizer) work on the stable toolchain; `cargo install
# cargo-fuzz` once first.
#
#   fuzz/run.sh [SECONDS]
set -euo pipefail
secs=${1:-600}
cd "$(dirname "$0")"
mkdir -p logs
for t in decode tracker config status; do
  mkdir -p "corpus/$t"
  cp -n "seeds/$t/"* "corpus/$t/" 2>/dev/null || true
  # The committed corpus, minimized (cargo fuzz cmin) from the runs so far.
  tar -C "corpus/$t" --skip-old-files -xzf "corpus-min/$t.tar.gz"
done
RUSTC_BOOTSTRAP=1 cargo fuzz build -O
run() { # target
  RUSTC_BOOTSTRAP=1 cargo fuzz run -O "$1" "corpus/$1" -- \
    -max_total_time="$secs" -print_final_stats=1 -rss_limit_mb=2048 >"logs/$1.log" 2>&1 || echo "$1: FAILED, see fuzz/logs/$1.log and fuzz/artifacts/$1"
}
(run decode; run config) &
(run tracker; run status) &
wait
for t in decode tracker config status; do
  echo "$t: $(grep -E 'stat::number_of_executed_units|stat::peak_rss_mb' "logs/$t.log" | tr '\n' ' ')"
done
