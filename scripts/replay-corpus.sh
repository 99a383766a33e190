#!/usr/bin/env bash
# Runs a linewatch binary over every fixture and every capture under
# ../shared/captures, in text and JSON, without a config, with each fixture
# config, and with `--emit dry-run` under every on_silence / on_reconnect /
# page_on setting (statsd, PagerDuty and Slack sections on), and writes each
# run's stdout, stderr and exit code under OUT. Two binaries' OUT folders
# compared with `diff -r` show every byte a change moved.
#
#   scripts/replay-corpus.sh target/release/linewatch /tmp/new
#   diff -r /tmp/old /tmp/new
set -euo pipefail
bin=$(realpath "$1"); out=$2
root=$(cd "$(dirname "$0")/.." && pwd)
shared=$(realpath "$root/../shared/captures" 2>/dev/null || true)
rm -rf "$out"; mkdir -p "$out/configs"
export LW_CORPUS_KEY=corpus-routing-key LW_CORPUS_HOOK=http://127.0.0.1:9/hook
configs=("$root"/fixtures/*.toml)
for silence in critical warning; do
  for reconnect in warning ok; do
    for page in critical warning; do
      c="$out/configs/emit-$silence-$reconnect-$page.toml"
      sed -e "/^expect_connections/a on_silence = \"$silence\"\non_reconnect = \"$reconnect\"\npage_on = \"$page\"\nhold_down = \"20s\"" \
        "$root/fixtures/linewatch.toml" > "$c"
      cat >> "$c" <<TOML
[daemon]
host = "corpus"
[statsd]
address = "127.0.0.1:9"
[pagerduty]
events_url = "http://127.0.0.1:9/v2/enqueue"
routing_key_env = "LW_CORPUS_KEY"
[slack]
webhook_url_env = "LW_CORPUS_HOOK"
TOML
    done
  done
done
files=("$root"/fixtures/*.pcap*)
[[ -n "$shared" ]] && mapfile -t -O "${#files[@]}" files < <(find "$shared" -name '*.pcap*' -o -name '*.cap' | sort)
run() { # name args...
  local name=$1; shift
  set +e; "$bin" "$@" >"$out/$name.out" 2>"$out/$name.err"; echo $? >"$out/$name.rc"; set -e
}
n=0
for f in "${files[@]}"; do
  b=$(basename "$(dirname "$f")")-$(basename "$f")
  for fmt in text json; do
    run "$b.$fmt" replay "$f" --format "$fmt"; n=$((n+1))
    for c in "${configs[@]}"; do
      run "$b.$fmt.$(basename "$c" .toml)" replay "$f" --format "$fmt" --config "$c"; n=$((n+1))
    done
  done
done
# Dry-run emission: fixtures only (the shared captures match no link).
for f in "$root"/fixtures/*.pcap*; do
  for c in "$out"/configs/emit-*.toml; do
    for fmt in text json; do
      run "$(basename "$f").$fmt.$(basename "$c" .toml)" replay "$f" --format "$fmt" --config "$c" --emit dry-run; n=$((n+1))
    done
  done
done
echo "$n runs written to $out"
