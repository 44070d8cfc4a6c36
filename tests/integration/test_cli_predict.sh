#!/usr/bin/env bash
# End-to-end tests of `sao predict` on real bars against a real redis-server: the table and the
# JSON, trading-day dates, the prediction cache (a hit, then a miss after a new bar or a new
# version), --no-cache, and clear errors when the model, the window or Redis is missing.
# A tiny model and a short series keep it to seconds.
set -euo pipefail
SAO="${SAO_BIN:?}"
SRC="${SAO_SOURCE_DIR:?}"
SHARED="${SAO_SHARED_DIR:-${SAO_DEFAULT_SHARED_DIR:?}}"
OHLCV="$SHARED/data/ohlcv"
work=$(mktemp -d)
cleanup() {
  [ -n "${redis_pid:-}" ] && kill "$redis_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/repo"
cp "$SRC/feature_store/feature_store.yaml" "$SRC/feature_store/features.yaml" "$work/repo/"
export SAO_HOME="$work/home" SAO_LOG_FORMAT=text SAO_PROGRESS=off SAO_FEATURE_REPO="$work/repo"
source "$SRC/tests/integration/lib.sh"
run_err() { sao_fails predict "$@"; } # run_err EXPECTED_RC NEEDLE ARGS...

start_redis
export SAO_REDIS_CONNECTION="127.0.0.1:$port"

"$SAO" ingest ^GSPC --file "$OHLCV/yahoo_daily_GSPC_1990-01-02_2024-09-12_johnvb21.csv" \
  --from 2014-01-01 --to 2024-09-06 >/dev/null
"$SAO" ingest BTC-USD --file "$OHLCV/yahoo_daily_BTC-USD_2014-09-17_2023-11-16_trioxwater.csv" \
  --from 2019-01-01 --to 2023-11-10 >/dev/null
small=(--hidden 8 --layers 1 --epochs 1 --context 20 --batch 64 --dropout 0)
"$SAO" train ^GSPC "${small[@]}" >/dev/null
"$SAO" train BTC-USD "${small[@]}" >/dev/null
"$SAO" apply >/dev/null
"$SAO" materialize 2023-01-01 2024-09-06 >/dev/null

# --- the table ------------------------------------------------------------------------------------
out=$("$SAO" predict ^gspc)
check "as-of bar" contains "$out" "^GSPC (index): 5-day forecast as of 2024-09-06 (close 5408.42)"
check "model version" contains "$out" "model v1 (lstm), computed in"
check "table header" grep -Eq "^date +predicted +persistence +drift$" <<<"$out"
check "five rows" [ "$(grep -cE '^20[0-9]{2}-' <<<"$out")" -eq 5 ]
check "Friday's forecast starts Monday" grep -Eq "^2024-09-09 +[0-9.]+ +5408\.42 " <<<"$out"
check "and skips the weekend" grep -Eq "^2024-09-13 " <<<"$out"
out=$("$SAO" predict ^GSPC)
check "second call comes from the cache" contains "$out" "model v1 (lstm), from the prediction cache"
out=$("$SAO" predict ^GSPC --no-cache)
check "--no-cache computes" contains "$out" "computed in"
out=$(SAO_PREDICT_CACHE=0 "$SAO" predict ^GSPC)
check "SAO_PREDICT_CACHE=0 computes" contains "$out" "computed in"

out=$("$SAO" predict BTC-USD)
check "crypto as-of bar" contains "$out" "BTC-USD (crypto): 5-day forecast as of 2023-11-10"
check "crypto forecasts Saturday" grep -Eq "^2023-11-11 " <<<"$out"
check "and Sunday" grep -Eq "^2023-11-12 " <<<"$out"

# --- JSON -----------------------------------------------------------------------------------------
json=$("$SAO" predict ^GSPC --json --no-cache)
check "json ticker and bar" contains "$json" '{"ticker":"^GSPC","asset_class":"index","as_of":"2024-09-06"'
check "json model" contains "$json" '"model":{"version":1,"arch":"lstm","parent":null}'
check "json not cached" contains "$json" '"cached":false'
check "json five steps" [ "$(grep -o '"date":' <<<"$json" | wc -l)" -eq 5 ]
check "json first step" contains "$json" '"forecast":[{"date":"2024-09-09","close":'
check "json persistence" contains "$json" '"persistence":5408.419921875'
if command -v python3 >/dev/null; then
  check "json parses" python3 -c 'import json,sys; d=json.load(sys.stdin); assert len(d["forecast"]) == 5' <<<"$json"
fi
cached=$("$SAO" predict ^GSPC --json)
check "json from the cache" contains "$cached" '"cached":true'
# The cache holds the forecast exactly: the same closes as the computed one.
closes() { grep -o '"close":[^,]*' <<<"$1"; }
check "cached closes equal computed ones" [ "$(closes "$cached")" = "$(closes "$json")" ]

# --- a new bar, a new version ---------------------------------------------------------------------
"$SAO" ingest ^GSPC --file "$OHLCV/yahoo_daily_GSPC_1990-01-02_2024-09-12_johnvb21.csv" \
  --from 2024-09-01 --to 2024-09-09 >/dev/null
"$SAO" materialize 2023-01-01 2024-09-09 >/dev/null
out=$("$SAO" predict ^GSPC)
check "a new bar is a miss" contains "$out" "computed in"
check "the new bar is the as-of bar" contains "$out" "as of 2024-09-09"
out=$("$SAO" predict ^GSPC)
check "then a hit" contains "$out" "from the prediction cache"
"$SAO" train ^GSPC "${small[@]}" --seed 7 --promote always >/dev/null
out=$("$SAO" predict ^GSPC)
check "a new version is a miss" contains "$out" "model v2 (lstm), computed in"

# --- errors ---------------------------------------------------------------------------------------
run_err 1 "no model for MSFT: run \`sao train MSFT\`" MSFT
"$SAO" ingest AAPL --file "$OHLCV/yahoo_daily_AAPL_1990-01-02_2024-09-12_johnvb21.csv" \
  --from 2016-01-01 --to 2024-09-06 >/dev/null
"$SAO" train AAPL "${small[@]}" >/dev/null
run_err 1 "no online features for AAPL: run \`sao materialize-incremental\`" AAPL
run_err 2 "no ticker given" 
run_err 2 "unknown option '--bogus'" ^GSPC --bogus
run_err 2 "one ticker at a time" ^GSPC AAPL
run_err 2 "ticker" "../x"
"$SAO" predict --help | grep -q -- "--no-cache"; rc=$?
check "help lists the options" [ "$rc" -eq 0 ]
kill "$redis_pid"; wait "$redis_pid" 2>/dev/null || true; redis_pid=""
run_err 1 "online store unreachable" ^GSPC

echo "$pass passed, $fails failed"
[ "$fails" -eq 0 ]
