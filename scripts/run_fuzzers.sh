#!/usr/bin/env bash
# Runs every libFuzzer target in a build folder for a short time, seeded from ../shared.
# usage: run_fuzzers.sh BUILD_DIR SECONDS
set -euo pipefail
build="$1"
seconds="${2:-20}"
here="$(cd "$(dirname "$0")/.." && pwd)"
shared="${SAO_SHARED_DIR:-$here/../shared}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

seed_dir() {
  case "$1" in
    fuzz_csv) echo "$shared/data/ohlcv" ;;
    fuzz_yahoo) echo "$shared/fixtures/yahoo" ;;
    fuzz_parquet) echo "$shared/data/parquet" ;;
    fuzz_model_card) echo "$here/tests/fuzz/seeds/fuzz_model_card" ;; # cards of tiny models
    fuzz_numfmt) echo "$here/tests/fuzz/seeds/fuzz_numfmt" ;; # numbers as text and as bits
    fuzz_http_path) echo "$here/tests/fuzz/seeds/fuzz_http_path" ;; # paths of every route kind
    *) echo "" ;;
  esac
}

found=0
for bin in "$build"/tests/fuzz/fuzz_*; do
  [ -x "$bin" ] || continue
  name=$(basename "$bin")
  found=1
  corpus="$work/$name"
  mkdir -p "$corpus"
  seeds=$(seed_dir "$name")
  [ -n "$seeds" ] && [ -d "$seeds" ] && cp "$seeds"/* "$corpus"/ 2>/dev/null || true
  echo "fuzz: $name for ${seconds}s"
  "$bin" -max_total_time="$seconds" -max_len=1048576 -rss_limit_mb=4096 -print_final_stats=0 \
    "$corpus" >"$work/$name.log" 2>&1 || { tail -n 40 "$work/$name.log"; echo "fuzz: $name FAILED"; exit 1; }
  grep -E "^#[0-9]+.*DONE|Done [0-9]+ runs" "$work/$name.log" | tail -n 1 || true
done
[ "$found" = 1 ] || echo "fuzz: no targets built"
