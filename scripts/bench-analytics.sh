#!/usr/bin/env bash
# The cost of the degradation analytics on replay, in one run: the same
# binary with the analytics on (default) and off (`[limits] max_analyzed =
# 0`), on the bench captures: valgrind instructions on 200k packets, best
# and median wall of RUNS alternating runs on 5M, in the three modes of
# scripts/compare-speed.sh (text and JSON without links, every connection
# analysed; --config with the bench's link), and the median over rounds of
# on/off in the same round. Then `cargo bench --bench
# analytics` (memory per connection, the tracker's own cost).
#
#   scripts/bench-analytics.sh [RUNS]
set -euo pipefail
runs=${1:-5}
root=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
data=${BENCH_DATA:-$target/bench-data}
(cd "$root" && cargo build --release --locked -q)
if [[ ! -f $data/synthetic-v1-5000000.pcap ]]; then
  (cd "$root" && cargo bench --bench replay >/dev/null)
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bin=$target/release/linewatch
off_links="[limits]
max_analyzed = 0
"
# Configs for each mode, on and off (text and JSON: no link, every flow).
printf '' > "$work/on-nolink.toml"
printf '%s' "$off_links" > "$work/off-nolink.toml"
cp "$data/bench-linewatch.toml" "$work/on-link.toml"
{ printf '%s\n' "$off_links"; cat "$data/bench-linewatch.toml"; } > "$work/off-link.toml"
args() { # MODE ON|OFF
  case $1 in
    text) echo --config "$work/$2-nolink.toml" ;;
    json) echo --format json --config "$work/$2-nolink.toml" ;;
    config) echo --config "$work/$2-link.toml" ;;
  esac
}
small=$data/synthetic-v1-200000.pcap big=$data/synthetic-v1-5000000.pcap
for mode in text json config; do
  for v in off on; do
    # shellcheck disable=SC2046
    ir=$(valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null \
      "$bin" replay "$small" $(args $mode $v) 2>&1 >/dev/null | awk '/I *refs/ {print $NF}')
    echo "instructions $mode analytics-$v $ir"
  done
done
cat "$big" > /dev/null
for mode in text json config; do
  declare -A t=()
  for r in $(seq "$runs"); do
    # off first in odd rounds, on first in even ones.
    order="off on"
    if (( r % 2 == 0 )); then order="on off"; fi
    for v in $order; do
      s=$(date +%s%N)
      # shellcheck disable=SC2046
      "$bin" replay "$big" $(args $mode $v) > /dev/null
      t[$v]="${t[$v]:-} $(( $(date +%s%N) - s ))"
    done
  done
  for v in off on; do
    echo "wall $mode analytics-$v $(echo ${t[$v]} | tr ' ' '\n' | sort -n | awk '{a[NR]=$1/1e9} END{printf "best %.3f s, median %.3f s", a[1], a[int((NR+1)/2)]}')"
  done
  # Each round ran off and on, back to back: the median of on/off over
  # rounds (a slow spell of the machine falls on both), and its quartiles
  # (how much one round's figure wanders).
  echo "wall $mode on/off paired median $(paste <(echo ${t[off]} | tr ' ' '\n') <(echo ${t[on]} | tr ' ' '\n') |
    awk '{print $2/$1}' | sort -n | awk '{a[NR]=$1} END{q=int((NR+3)/4); printf "%+.1f %% (quartiles %+.1f, %+.1f)", (a[int((NR+1)/2)]-1)*100, (a[q]-1)*100, (a[NR+1-q]-1)*100}')"
  unset t
done
(cd "$root" && cargo bench --bench analytics 2>/dev/null)
