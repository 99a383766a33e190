#!/usr/bin/env bash
# Builds the Debian package into target/debian/: the release binary, the man
# pages and completions generated from it (so they never drift from --help),
# then cargo-deb (`cargo install cargo-deb --locked`; .ci/install installs it).
# Usage: bash scripts/build-deb.sh   (prints the package's path last)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo-deb >/dev/null || {
  echo "cargo-deb not found: run 'cargo install cargo-deb --locked' (or bash .ci/install)" >&2
  exit 1
}
cargo build --release --locked
target_dir="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
rm -rf target/generated-docs
"$target_dir/release/linewatch" generate-docs target/generated-docs
cargo deb --no-build --locked --strip | tail -n 1
