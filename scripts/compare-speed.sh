#!/usr/bin/env bash
# Times two or more linewatch binaries on the bench captures, in one run:
# valgrind instruction counts on the 200k-packet file (exact, repeatable),
# then best and median wall time of N alternating runs on the 5M-packet file
# (each from a warm page cache), for text, JSON and --config replay.
# The captures come from `cargo bench --bench replay` (bench-data/ in its
# target dir).
#
#   scripts/compare-speed.sh BENCH_DATA_DIR RUNS OLD_BIN NEW_BIN...
set -euo pipefail
data=$1 runs=$2; shift 2
small=$data/synthetic-v1-200000.pcap big=$data/synthetic-v1-5000000.pcap cfg=$data/bench-linewatch.toml
args() { case $1 in text) ;; json) echo --format json ;; config) echo --config "$cfg" ;; esac; }
for mode in text json config; do
  for b in "$@"; do
    # shellcheck disable=SC2046
    ir=$(valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null \
      "$b" replay "$small" $(args $mode) 2>&1 >/dev/null | awk '/I *refs/ {print $NF}')
    echo "instructions $mode $b $ir"
  done
done
cat "$big" > /dev/null
for mode in text json config; do
  declare -A t=()
  for _ in $(seq "$runs"); do
    for b in "$@"; do
      s=$(date +%s%N)
      # shellcheck disable=SC2046
      "$b" replay "$big" $(args $mode) > /dev/null
      t[$b]="${t[$b]:-} $(( $(date +%s%N) - s ))"
    done
  done
  for b in "$@"; do
    echo "wall $mode $b $(echo ${t[$b]} | tr ' ' '\n' | sort -n | awk '{a[NR]=$1/1e9} END{printf "best %.3f s, median %.3f s", a[1], a[int((NR+1)/2)]}')"
  done
  unset t
done
