#!/usr/bin/env bash
# Places a real, licensed demo data set in $SAO_HOME/demo: the daily S&P 500 series
# (2000-01-03 .. 2020-04-17) shipped as data/sp500-2000.csv in the npm package
# vega-datasets@3.2.1 (BSD-3-Clause). Skips the download when the file is already there.
set -euo pipefail
home="${SAO_HOME:-./var}"
dest="$home/demo/sp500-2000.csv"
[ -s "$dest" ] && { echo "demo data: $dest is present"; exit 0; }
mkdir -p "$home/demo"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if ! (cd "$tmp" && npm pack --silent vega-datasets@3.2.1 >/dev/null 2>&1); then
  echo "demo data: npm registry not reachable; set SAO_DATA_DIR to a folder of CSV files" >&2
  exit 0
fi
tar -xzf "$tmp"/vega-datasets-3.2.1.tgz -C "$tmp" package/data/sp500-2000.csv
mv "$tmp/package/data/sp500-2000.csv" "$dest.tmp" && mv "$dest.tmp" "$dest"
echo "demo data: $dest (vega-datasets 3.2.1, BSD-3-Clause)"
