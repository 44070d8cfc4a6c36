#!/usr/bin/env bash
# Materialization benchmark: 10,000 entities (the real johnvb21 tickers copied under new names)
# with the full technical view, from the Parquet offline store into a throwaway redis-server.
# Prints entities per second for `sao materialize` (technical_daily only, then all views) with
# SAO_THREADS reader threads (default: one per online CPU), and technical_daily on one thread.
# usage: bench/run_materialize.sh [BUILD_DIR] [ENTITIES]
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$here/build}"
entities="${2:-10000}"
shared="${SAO_SHARED_DIR:-$here/../shared}"
[ -x "$build/sao" ] || { cmake -S "$here" -B "$build" >/dev/null && cmake --build "$build" -j "$(nproc)" >/dev/null; }
work=$(mktemp -d)
redis_pid=""
trap '[ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null; rm -rf "$work"' EXIT
export SAO_HOME="$work/home" SAO_PROGRESS=off SAO_LOG_LEVEL=warn
for f in "$shared"/data/ohlcv/*_johnvb21.csv; do
  t=$(basename "$f" | sed -E 's/^yahoo_daily_([^_]+)_.*/\1/')
  [ "$t" = GSPC ] && t='^GSPC'
  "$build/sao" ingest "$t" --file "$f" >/dev/null 2>&1
done
mapfile -t base < <(ls "$SAO_HOME/offline/ohlcv_daily" | sed 's/\.parquet$//')
for ((i = 0; i < entities; i++)); do
  src=${base[$((i % ${#base[@]}))]}
  name="$(tr -d '^' <<<"$src").$i"
  for view in ohlcv_daily technical_daily; do
    ln "$SAO_HOME/offline/$view/$src.parquet" "$SAO_HOME/offline/$view/$name.parquet"
  done
done
for view in ohlcv_daily technical_daily; do rm -f "$SAO_HOME"/offline/$view/{AAPL,AMZN,GOOGL,META,MSFT,NVDA,SPY,TSLA,^GSPC}.parquet; done
port=""
for p in $(shuf -i 20000-40000 -n 50); do
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then port=$p; break; fi
done
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$work" --logfile "$work/redis.log" &
redis_pid=$!
for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
export SAO_REDIS_CONNECTION="127.0.0.1:$port"
"$build/sao" apply >/dev/null
rows=$(ls "$SAO_HOME/offline/technical_daily" | wc -l)
bytes=$(du -sb "$SAO_HOME/offline/technical_daily" | cut -f1)
threads="${SAO_THREADS:-0}"
[ "$threads" = 0 ] && threads=$(getconf _NPROCESSORS_ONLN)
start=$(date +%s.%N)
"$build/sao" materialize 1990-01-01 2024-09-12 --views technical_daily
mid=$(date +%s.%N)
"$build/sao" materialize 1990-01-01 2024-09-12
end=$(date +%s.%N)
# technical_daily again on one thread, into an emptied Redis so that it writes the same rows.
redis-cli -p "$port" flushall >/dev/null
one0=$(date +%s.%N)
SAO_THREADS=1 "$build/sao" materialize 1990-01-01 2024-09-12 --views technical_daily
one=$(date +%s.%N)
awk -v n="$rows" -v a="$start" -v b="$mid" -v c="$end" -v c1="$one0" -v d="$one" -v mb="$bytes" -v th="$threads" 'BEGIN {
  printf "{\"bench\":\"materialize\",\"entities\":%d,\"offline_mb\":%.0f,\"threads\":%d,\"technical_s\":%.3f,\"technical_entities_per_s\":%.0f,\"all_views_s\":%.3f,\"technical_1_thread_s\":%.3f}\n",
    n, mb / 1e6, th, b - a, n / (b - a), c - b, d - c1 }'
