#!/usr/bin/env bash
# Times two or more linewatch binaries on the bench captures, in one run:
# valgrind instruction counts on the 200k-packet file (exact, repeatable),
# then best and median wall time of N alternating runs on the 5M-packet file
# (each from a warm page cache), for text, JSON and --config replay.
# The captures come from `cargo bench --bench replay` (bench-data/ in its
# target dir).
#
# Each round runs every binary once, back to back (alternately forward and
# backward); besides best and median,
# each binary gets the median over rounds of its time / the first binary's
# time in the same round (a slow spell of the machine falls on both).
#
# A binary may be given as BIN=TOML: TOML's lines go before every config it
# runs with (text and JSON then run with `--config` of those lines alone).
# That compares a newer binary with a feature turned off, e.g.
# `new=off.toml` with `[limits] max_analyzed = 0`, against an older one
# that has no such key.
#
#   scripts/compare-speed.sh BENCH_DATA_DIR RUNS OLD_BIN NEW_BIN[=TOML]...
set -euo pipefail
data=$1 runs=$2; shift 2
small=$data/synthetic-v1-200000.pcap big=$data/synthetic-v1-5000000.pcap cfg=$data/bench-linewatch.toml
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
declare -A pre=()
bins=()
for spec in "$@"; do
  b=${spec%%=*}
  bins+=("$b")
  if [[ $spec == *=* ]]; then
    pre[$b]=${spec#*=}
  fi
done
args() { # MODE BIN
  local extra=${pre[$2]:-}
  if [[ -z $extra ]]; then
    case $1 in text) ;; json) echo --format json ;; config) echo --config "$cfg" ;; esac
    return
  fi
  local k
  k=$(printf '%s' "$2" | md5sum | cut -c1-8)
  cp "$extra" "$work/$k-plain.toml"
  { cat "$extra"; echo; cat "$cfg"; } > "$work/$k-link.toml"
  case $1 in
    text) echo --config "$work/$k-plain.toml" ;;
    json) echo --format json --config "$work/$k-plain.toml" ;;
    config) echo --config "$work/$k-link.toml" ;;
  esac
}
for mode in text json config; do
  for b in "${bins[@]}"; do
    # shellcheck disable=SC2046
    ir=$(valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null \
      "$b" replay "$small" $(args $mode "$b") 2>&1 >/dev/null | awk '/I *refs/ {print $NF}')
    echo "instructions $mode $b $ir"
  done
done
cat "$big" > /dev/null
for mode in text json config; do
  declare -A t=()
  for r in $(seq "$runs"); do
    # Forward in odd rounds, backward in even ones: no binary always runs
    # first (on this machine the second of two identical runs was 2.7 %
    # slower, median of 21 rounds).
    order=("${bins[@]}")
    if (( r % 2 == 0 )); then
      order=(); for ((i=${#bins[@]}-1; i>=0; i--)); do order+=("${bins[i]}"); done
    fi
    for b in "${order[@]}"; do
      s=$(date +%s%N)
      # shellcheck disable=SC2046
      "$b" replay "$big" $(args $mode "$b") > /dev/null
      t[$b]="${t[$b]:-} $(( $(date +%s%N) - s ))"
    done
  done
  first=${bins[0]}
  for b in "${bins[@]}"; do
    paired=$(paste <(echo ${t[$first]} | tr ' ' '\n') <(echo ${t[$b]} | tr ' ' '\n') |
      awk '{print $2/$1}' | sort -n | awk '{a[NR]=$1} END{printf "%+.1f %%", (a[int((NR+1)/2)]-1)*100}')
    echo "wall $mode $b $(echo ${t[$b]} | tr ' ' '\n' | sort -n | awk '{a[NR]=$1/1e9} END{printf "best %.3f s, median %.3f s", a[1], a[int((NR+1)/2)]}'), paired median vs first $paired"
  done
  unset t
done
