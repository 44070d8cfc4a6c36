#!/usr/bin/env bash
# End to end: `sao up` as the README's main command runs it, offline on real CSV files. It must
# start its own Redis, ingest, apply, materialize, train a parent and a child, serve the API,
# stop everything on Ctrl-C, and on a second run reuse what exists instead of training again.
# The CSVs are cut to their last 700 days so that the default training takes seconds.
set -euo pipefail
SAO="${SAO_BIN:?}"
SHARED="${SAO_SHARED_DIR:-${SAO_DEFAULT_SHARED_DIR:?}}"
OHLCV="$SHARED/data/ohlcv"
work=$(mktemp -d)
up_pid=""
cleanup() {
  [ -n "$up_pid" ] && kill -TERM "$up_pid" 2>/dev/null && wait "$up_pid" 2>/dev/null || true
  # A redis-server left behind by a failed run is ours to stop.
  pkill -f -- "--dir $work/home/redis" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
SRC="${SAO_SOURCE_DIR:?}"
mkdir -p "$work/repo"
cp "$SRC/feature_store/feature_store.yaml" "$SRC/feature_store/features.yaml" "$work/repo/"
export SAO_HOME="$work/home" SAO_LOG_FORMAT=text SAO_PROGRESS=off SAO_API_ACCESS_LOG=0
export SAO_FEATURE_REPO="$work/repo"
unset SAO_REDIS_CONNECTION
source "$SRC/tests/integration/lib.sh"

mkdir -p "$work/data"
for sym in GSPC AAPL; do
  src="$OHLCV/yahoo_daily_${sym}_1990-01-02_2024-09-12_johnvb21.csv"
  { head -n 1 "$src"; tail -n 700 "$src"; } >"$work/data/yahoo_daily_${sym}_recent.csv"
done
export SAO_DATA_DIR="$work/data"

# Starts `sao up` in the background and waits for its "Serving on" line; sets up_pid and port.
start_up() { # start_up LOG
  local log="$1"
  "$SAO" up --offline --port 0 >"$log" 2>&1 &
  up_pid=$!
  for _ in $(seq 1 600); do
    if grep -q "^Serving on" "$log"; then break; fi
    if ! kill -0 "$up_pid" 2>/dev/null; then break; fi
    sleep 0.5
  done
  port=$(sed -nE 's|^Serving on http://127\.0\.0\.1:([0-9]+).*|\1|p' "$log")
  [ -n "$port" ]
}

stop_up() { # stop_up SIGNAL -> exit status in $up_status
  kill "-$1" "$up_pid"
  up_status=0
  wait "$up_pid" || up_status=$?
  up_pid=""
}

# --- first run: everything from nothing ----------------------------------------------------------
if ! start_up "$work/up1.log"; then
  echo "FAIL: sao up did not start serving"; cat "$work/up1.log"; exit 1
fi
log=$(cat "$work/up1.log")
check "starts its own redis" contains "$log" "redis-server  127.0.0.1:"
check "imports the CSV files" contains "$log" "AAPL"
check "applies the feature repository" contains "$log" "applied"
check "materializes" contains "$log" "materialized"
check "writes the stored days to Redis" lacks "$log" ": 0 rows written"
check "trains the parent" contains "$log" "trained       ^GSPC v1"
check "trains a child from the parent" contains "$log" "training      AAPL from parent ^GSPC"
check "prints the explorer URL" contains "$log" "/docs"
redis_pid=$(sed -nE 's|.*redis-server  127\.0\.0\.1:[0-9]+ \(pid ([0-9]+),.*|\1|p' <<<"$log")
check "redis runs" kill -0 "$redis_pid"
redis_port=$(sed -nE 's|.*redis-server  127\.0\.0\.1:([0-9]+) .*|\1|p' <<<"$log")
check "redis listens on a Unix socket beside its data" test -S "$SAO_HOME/redis/redis.sock"

base="http://127.0.0.1:$port"
code=$(curl -s -o /dev/null -w '%{http_code}' "$base/healthz")
check "healthz answers" [ "$code" = 200 ]
code=$(curl -s -o /dev/null -w '%{http_code}' "$base/readyz")
check "ready: redis up and models loaded" [ "$code" = 200 ]
body=$(curl -s "$base/api/v1/predict/%5EGSPC")
check "parent predicts" contains "$body" '"ticker":"^GSPC"'
body=$(curl -s "$base/api/v1/predict/AAPL")
check "child predicts" contains "$body" '"predictions"'
check "child names its parent" contains "$body" '"^GSPC"'
clients=$(redis-cli -p "$redis_port" client list 2>&1)
check "the API talks to redis through the socket" contains "$clients" "redis.sock"
child_card="$SAO_HOME/models/AAPL/v1/model.json"
check "child model written" test -s "$child_card"
check "child records its parent" grep -qF '"ticker": "^GSPC"' "$child_card"

stop_up INT
check "Ctrl-C exits 0" [ "$up_status" -eq 0 ]
check "says it stopped" grep -q "^Stopped." "$work/up1.log"
sleep 0.2
check "the redis it started is stopped" bash -c "! kill -0 $redis_pid 2>/dev/null"
check "redis saved its data under SAO_HOME" test -s "$SAO_HOME/redis/dump.rdb"

# --- second run: reuses data, features and models --------------------------------------------------
if ! start_up "$work/up2.log"; then
  echo "FAIL: second sao up did not start serving"; cat "$work/up2.log"; exit 1
fi
log=$(cat "$work/up2.log")
check "second run trains nothing" lacks "$log" "training "
check "second run writes no new version" test ! -e "$SAO_HOME/models/AAPL/v2"
body=$(curl -s "http://127.0.0.1:$port/api/v1/predict/AAPL")
check "second run serves" contains "$body" '"predictions"'
stop_up TERM
check "SIGTERM exits 0" [ "$up_status" -eq 0 ]

finish "sao up"
