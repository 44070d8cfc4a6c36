#!/usr/bin/env bash
# Runs every benchmark against its named peer, in one go. usage: bench/run_all.sh [BUILD_DIR]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="${1:-build}"
echo "== indicators: C vs pandas"
"$here/run_indicators.sh" "$build"
echo "== online store: materialize-style writes and reads on Redis"
"$here/run_online.sh" "$build"
echo "== materialize: 10,000 entities from Parquet into Redis"
"$here/run_materialize.sh" "$build"
echo "== training: LSTM epochs, C vs PyTorch (3 epochs, 1 and 2 threads)"
"$here/run_train.sh" "$build"
echo "== serving: sao serve vs FastAPI + uvicorn + PyTorch (wrk, 32 connections)"
"$here/run_serve.sh" "$build"
