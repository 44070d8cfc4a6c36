#!/usr/bin/env bash
# End-to-end tests of `sao ingest`, `sao export` and `sao config` as a user runs them: real
# CSV files from ../shared, and the Yahoo chart API served from real responses by a local server.
set -euo pipefail
SAO="${SAO_BIN:?}"
SHARED="${SAO_SHARED_DIR:-${SAO_DEFAULT_SHARED_DIR:?}}"
OHLCV="$SHARED/data/ohlcv"
YF="$SHARED/fixtures/yahoo"
work=$(mktemp -d)
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
export SAO_HOME="$work/home" SAO_LOG_FORMAT=text SAO_PROGRESS=off
fails=0
pass=0
check() { # check NAME COND...
  local name="$1"; shift
  if "$@"; then pass=$((pass + 1)); else echo "FAIL: $name"; fails=$((fails + 1)); fi
}
contains() { grep -q -- "$2" <<<"$1"; }
lacks() { ! grep -q -- "$2" <<<"$1"; }

# --- CSV import, export, incremental merge ---------------------------------------------------
aapl="$OHLCV/yahoo_daily_AAPL_1990-01-02_2024-09-12_johnvb21.csv"
rows_in=$(($(wc -l <"$aapl") - 1))
out=$("$SAO" ingest AAPL --file "$aapl" --to 2010-12-31)
check "first ingest reports new rows" contains "$out" "new"
first=$("$SAO" export AAPL --format csv | tail -n +2 | wc -l)
out=$("$SAO" ingest AAPL --file "$aapl")
check "incremental ingest adds only the rest" contains "$out" "$((rows_in - first)) new, 0 updated; $rows_in rows 1990-01-02..2024-09-12"
csv=$("$SAO" export AAPL --format csv)
check "export has one row per day" [ "$(tail -n +2 <<<"$csv" | wc -l)" -eq "$rows_in" ]
check "no duplicated day" [ "$(tail -n +2 <<<"$csv" | cut -d, -f2 | sort | uniq -d | wc -l)" -eq 0 ]
header=$(head -n 1 <<<"$csv")
for col in ticker event_timestamp created open high low close adj_close volume return_1d \
  log_return_1d volatility_20 sma_20 ema_12 ema_20 ema_26 rsi_14 macd macd_signal macd_hist \
  bb_upper bb_middle bb_lower bb_pct_b bb_bandwidth atr_14 adx_14 stoch_k stoch_d cci_20 obv \
  ichimoku_tenkan ichimoku_kijun ichimoku_senkou_a ichimoku_senkou_b ichimoku_chikou; do
  check "export header has $col" contains "$header" ",$col\|^$col"
done
check "stocks have no crypto proxies" lacks "$header" nvt_proxy
line=$(grep '^AAPL,2007-10-09T00:00:00Z' <<<"$csv")
src=$(grep '^2007-10-09,' "$aapl")
close_src=$(cut -d, -f5 <<<"$src")
close_out=$(cut -d, -f7 <<<"$line")
check "close survives the round trip exactly" awk -v a="$close_src" -v b="$close_out" 'BEGIN{exit !(a+0==b+0)}'
check "warm-up indicators are empty, not zero" contains "$(sed -n 2p <<<"$csv")" ",,"
out=$("$SAO" ingest AAPL --file "$aapl")
check "re-ingest is a no-op" contains "$out" "0 new, 0 updated"
json=$("$SAO" export AAPL --format json --from 2024-09-10 --to 2024-09-12)
check "json export filters dates" [ "$(grep -c '"ticker":"AAPL"' <<<"$json")" -eq 3 ]
check "json nulls" bash -c "'$SAO' export AAPL --format json --to 1990-01-05 | grep -q '\"rsi_14\":null'"

# --- every CSV layout imports ------------------------------------------------------------------
for f in "$OHLCV"/*.csv; do
  base=$(basename "$f")
  t=$(sed -E 's/^yahoo_daily_([^_]+)_.*/\1/' <<<"$base")
  [ "$t" = GSPC ] && t='^GSPC'
  if ! SAO_HOME="$work/all" "$SAO" ingest "$t" --file "$f" --drop-invalid >/dev/null 2>"$work/err"; then
    echo "FAIL: import $base: $(cat "$work/err")"; fails=$((fails + 1))
  else pass=$((pass + 1)); fi
done
out=$(SAO_HOME="$work/q" "$SAO" ingest --file "$OHLCV/yahoo_daily_BTC-USD_2021-06-24_2026-06-24_recent5y_quantedge.csv")
check "yfinance header names the ticker" contains "$out" "BTC-USD"
check "crypto gets proxies" bash -c "SAO_HOME='$work/q' '$SAO' export BTC-USD | head -1 | grep -q 'nvt_proxy,mvrv_z_proxy'"

# --- validation: reject by default, drop on request, nothing written on error -------------------
bad="$work/bad.csv"
printf 'Date,Open,High,Low,Close,Adj Close,Volume\n2024-01-02,10,11,9,10.5,10.5,100\n2024-01-03,10,9,11,10.5,10.5,100\n2024-01-04,10,11,9,10.5,10.5,-5\n2024-01-05,10,11,9,10.5,10.5,100\n' >"$bad"
set +e
out=$(SAO_HOME="$work/v" "$SAO" ingest XYZ --file "$bad" 2>&1); rc=$?
set -e
check "invalid batch rejected" [ "$rc" -eq 1 ]
check "rejection says nothing was written" contains "$out" "nothing was written"
check "nothing written" [ ! -e "$work/v/offline/ohlcv_daily/XYZ.parquet" ]
out=$(SAO_HOME="$work/v" "$SAO" ingest XYZ --file "$bad" --drop-invalid 2>&1)
check "drop-invalid says how many" contains "$out" "2 invalid rows dropped"
check "drop-invalid keeps the good rows" [ "$(SAO_HOME="$work/v" "$SAO" export XYZ | tail -n +2 | wc -l)" -eq 2 ]
printf 'Date,Open,High,Low,Close,Adj Close,Volume\n2024-01-02,10,11,9,10.5,10.5,100\n2024-01-03,10,abc,9,10.5,10.5,100\n' >"$work/malformed.csv"
set +e
out=$(SAO_HOME="$work/v" "$SAO" ingest XYZ --file "$work/malformed.csv" 2>&1); rc=$?
set -e
check "malformed csv fails" [ "$rc" -eq 1 ]
check "error names file, line and column" contains "$out" "malformed.csv:3:3"
set +e
"$SAO" ingest ../etc/passwd >/dev/null 2>&1; rc=$?
set -e
check "path-like ticker is a usage error" [ "$rc" -eq 2 ]

# --- Yahoo chart API, served from real responses -----------------------------------------------
if [ -x "${SAO_FIXTURE_SERVER:-}" ]; then
  "$SAO_FIXTURE_SERVER" \
    --route "/v8/finance/chart/AAPL=$YF/yf_chart_AAPL_1d_2020-08-31_2020-11-06_split_dividend.json" \
    --route "/v8/finance/chart/BTC-USD=$YF/yf_chart_BTC-USD_1d_2020_with_null_bars.json" \
    --route "/v8/finance/chart/MDLY=$YF/yf_chart_MDLY_404_delisted.json:404" \
    --route "/v8/finance/chart/NVDA=$YF/yf_chart_NVDA_1d_2021-02-01_2022-01-28_split.json" \
    --fail-first 2 --fail-status 429 \
    --log "$work/requests.log" --max-seconds 300 >"$work/port" &
  server_pid=$!
  for _ in $(seq 50); do grep -q PORT "$work/port" 2>/dev/null && break; sleep 0.1; done
  port=$(awk '/PORT/{print $2}' "$work/port")
  export SAO_YAHOO_BASE_URL="http://127.0.0.1:$port" SAO_HTTP_BACKOFF_MS=10 SAO_HTTP_RETRIES=3
  export SAO_HOME="$work/yahoo"
  out=$("$SAO" ingest AAPL --from 2020-08-31 --to 2020-11-06 2>&1)
  check "yahoo ingest after two 429s" contains "$out" "1 splits"
  check "yahoo request asked daily bars" grep -q "interval=1d" "$work/requests.log"
  out=$("$SAO" ingest BTC-USD --from 2020-01-01 --to 2020-12-31 2>&1)
  check "null bars counted" contains "$out" "4 null bars skipped"
  set +e
  out=$("$SAO" ingest MDLY 2>&1); rc=$?
  set -e
  check "delisted ticker is an error" [ "$rc" -eq 1 ]
  check "delisted message" contains "$out" "delisted"
  out=$("$SAO" ingest NVDA --from 2021-02-01 --to 2022-01-28 2>&1)
  check "nvda split kept" contains "$out" "1 splits"
else
  echo "FAIL: fixture server not built"; fails=$((fails + 1))
fi

# --- config ---------------------------------------------------------------------------------------
out=$(SAO_ADMIN_TOKEN=hunter2 "$SAO" config)
check "config masks secrets" lacks "$out" hunter2
check "config lists SAO_HOME" contains "$out" "SAO_HOME="

echo "$pass passed, $fails failed"
[ "$fails" -eq 0 ]
