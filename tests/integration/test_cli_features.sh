#!/usr/bin/env bash
# End-to-end tests of `sao features`: point-in-time joins over real CSVs ingested with
# `sao ingest`, checked against `sao export`; usage and input errors; and the online form against
# a real redis-server after `sao materialize-incremental`.
set -euo pipefail
SAO="${SAO_BIN:?}"
SRC="${SAO_SOURCE_DIR:?}"
SHARED="${SAO_SHARED_DIR:-${SAO_DEFAULT_SHARED_DIR:?}}"
OHLCV="$SHARED/data/ohlcv"
work=$(mktemp -d)
source "$SRC/tests/integration/lib.sh"
cleanup() {
  [ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
export SAO_HOME="$work/home" SAO_LOG_FORMAT=text SAO_PROGRESS=off SAO_FEATURE_REPO="$SRC/feature_store"
same_number() { awk -v a="$1" -v b="$2" 'BEGIN{exit !(a != "" && b != "" && a+0 == b+0)}'; }
# col CSV_TEXT NAME: the 1-based index of a header column.
col() { head -n 1 <<<"$1" | tr ',' '\n' | grep -nx -- "$2" | cut -d: -f1; }

"$SAO" ingest AAPL --file "$OHLCV/yahoo_daily_AAPL_1990-01-02_2024-09-12_johnvb21.csv" >/dev/null
"$SAO" ingest BTC-USD --file "$OHLCV/yahoo_daily_BTC-USD_2014-09-17_2023-11-16_trioxwater.csv" >/dev/null

# --- historical: values against `sao export` ---------------------------------------------------
# label: the stored day each row must take (or "null"). 2024-09-07 and 2023-11-11 are Saturdays:
# the stock takes Friday's row, the coin its Saturday row. The data ends 2024-09-12 and the views'
# ttl is 10 days.
cat >"$work/entities.csv" <<'EOF'
event_timestamp,ticker,expect
2024-09-12,AAPL,2024-09-12
2024-09-07,AAPL,2024-09-06
2023-11-11,BTC-USD,2023-11-11
2023-11-11,aapl,2023-11-10
2023-11-10T21:00:00-05:00,AAPL,2023-11-10
2024-09-22T00:00:00Z,AAPL,2024-09-12
2024-09-22T00:00:00.000001Z,AAPL,null
1980-01-02,AAPL,null
2024-01-02,MSFT,null
2024-09-12,AAPL,2024-09-12
EOF
refs="ohlcv_daily:close,technical_daily:rsi_14"
out=$("$SAO" features historical --entities "$work/entities.csv" --features "$refs" \
  --features technical_daily:nvt_proxy --out "$work/f.parquet")
check "parquet written" [ -s "$work/f.parquet" ]
check "summary counts rows and columns" contains "$out" "Wrote 10 rows x 5 columns"
check "summary counts nulls" grep -Eq "^ *close +3 \(30.0%\)" <<<"$out"
check "nvt_proxy only for the coin" grep -Eq "^ *nvt_proxy +9 " <<<"$out"
if [ -x "${SAO_BUILD_DIR:-}/tests/integration/sao_parquet_tool" ]; then
  dump=$("$SAO_BUILD_DIR/tests/integration/sao_parquet_tool" dump "$work/f.parquet")
  check "parquet columns" [ "$(grep '^column' <<<"$dump" | tr '\n' ' ')" = \
    "column ticker STRING column event_timestamp TIMESTAMP_US column close DOUBLE column rsi_14 DOUBLE column nvt_proxy DOUBLE " ]
  check "parquet nulls" [ "$(awk '/^column close/{f=1;next} /^column/{f=0} f && /^null/' <<<"$dump" | wc -l)" -eq 3 ]
fi

csv=$("$SAO" features historical --entities "$work/entities.csv" --features "$refs" --out - 2>"$work/err")
check "csv header" [ "$(head -n 1 <<<"$csv")" = "ticker,event_timestamp,close,rsi_14" ]
check "csv summary on stderr" contains "$(cat "$work/err")" "Printed 10 rows x 4 columns"
check "csv keeps the input order" [ "$(tail -n +2 <<<"$csv" | cut -d, -f1 | tr '\n' ' ')" = \
  "AAPL AAPL BTC-USD AAPL AAPL AAPL AAPL AAPL MSFT AAPL " ]
check "csv timestamps are UTC" [ "$(sed -n 6p <<<"$csv" | cut -d, -f2)" = "2023-11-11T02:00:00Z" ]
row=1
while IFS=, read -r ts ticker expect; do
  [ "$ts" = event_timestamp ] && continue
  row=$((row + 1))
  line=$(sed -n "${row}p" <<<"$csv")
  got_close=$(cut -d, -f3 <<<"$line")
  got_rsi=$(cut -d, -f4 <<<"$line")
  if [ "$expect" = null ]; then
    check "row $row ($ticker $ts) is null" [ -z "$got_close" ] && [ -z "$got_rsi" ]
    continue
  fi
  t=$(tr '[:lower:]' '[:upper:]' <<<"$ticker")
  exp=$("$SAO" export "$t" --from "$expect" --to "$expect")
  exp_row=$(tail -n +2 <<<"$exp")
  check "row $row: export has $t $expect" [ "$(wc -l <<<"$exp_row")" -eq 1 ]
  check "row $row ($t $ts) close = export of $expect" \
    same_number "$got_close" "$(cut -d, -f"$(col "$exp" close)" <<<"$exp_row")"
  check "row $row ($t $ts) rsi_14 = export of $expect" \
    same_number "$got_rsi" "$(cut -d, -f"$(col "$exp" rsi_14)" <<<"$exp_row")"
done <"$work/entities.csv"

# Parquet entity rows: the result file itself has ticker and event_timestamp columns.
csv2=$("$SAO" features historical --entities "$work/f.parquet" --features "$refs" --out - 2>/dev/null)
check "parquet entities give the same join" [ "$csv2" = "$csv" ]

# Name collisions: a second view over the same offline folder (its source, not its name, says
# where the files are) with a 1-day ttl; both close columns become view__close.
mkdir -p "$work/repo"
cp "$SRC/feature_store/feature_store.yaml" "$SRC/feature_store/features.yaml" "$work/repo/"
cat >>"$work/repo/features.yaml" <<'EOF'

  - name: bars_again
    kind: bars
    description: The daily bars again, with a shorter ttl
    ttl: 1d
    source: offline/ohlcv_daily
    fields:
      - {name: close, dtype: Float64}
EOF
set +e
out=$("$SAO" features historical --repo "$work/repo" --entities "$work/entities.csv" \
  --features ohlcv_daily:close,bars_again:close --out - 2>"$work/err")
rc=$?
set -e
check "collision run succeeds" [ "$rc" -eq 0 ]
check "collision names" [ "$(head -n 1 <<<"$out")" = "ticker,event_timestamp,ohlcv_daily__close,bars_again__close" ]
check "1-day ttl: Saturday takes Friday" [ "$(sed -n 3p <<<"$out" | cut -d, -f3)" = "$(sed -n 3p <<<"$out" | cut -d, -f4)" ]
check "1-day ttl: Friday plus 26 hours is null" [ -z "$(sed -n 6p <<<"$out" | cut -d, -f4)" ]
check "1-day ttl: the 10-day view still has it" [ -n "$(sed -n 6p <<<"$out" | cut -d, -f3)" ]

# --- historical: errors ----------------------------------------------------------------------
run_err() { sao_fails features "$@"; } # run_err EXPECTED_RC NEEDLE ARGS...
run_err 2 "--entities FILE is required" historical --features "$refs" --out "$work/x.parquet"
run_err 2 "--features view:feature" historical --entities "$work/entities.csv" --out "$work/x.parquet"
run_err 2 "--out FILE.parquet" historical --entities "$work/entities.csv" --features "$refs"
run_err 2 "unknown option '--bogus'" historical --bogus
run_err 2 "expected 'online' or 'historical'" sideways
run_err 1 "no feature view 'nope'" historical --entities "$work/entities.csv" \
  --features nope:close --out "$work/x.parquet"
run_err 1 "view ohlcv_daily has no feature 'nope'" historical --entities "$work/entities.csv" \
  --features ohlcv_daily:nope --out "$work/x.parquet"
run_err 1 "served online only" historical --entities "$work/entities.csv" \
  --features model_window:close_window --out "$work/x.parquet"
run_err 1 "absent.csv" historical --entities "$work/absent.csv" --features "$refs" --out -
printf 'ticker,event_timestamp\nAAPL,2024-01-02\nAAPL,2024-02-30\n' >"$work/bad.csv"
run_err 1 "bad.csv:3:2: '2024-02-30' is not a timestamp" historical --entities "$work/bad.csv" \
  --features "$refs" --out "$work/x.parquet"
check "nothing written on error" [ ! -e "$work/x.parquet" ]

# --- online: a real redis-server after sao materialize-incremental ----------------------------
start_redis
export SAO_REDIS_CONNECTION="127.0.0.1:$port"
run_err 1 "AAPL has no online data in view ohlcv_daily (run: sao materialize-incremental" \
  online AAPL
"$SAO" materialize-incremental 2024-09-13 >/dev/null
out=$("$SAO" features online aapl --features close,rsi_14,close_window)
exp=$("$SAO" export AAPL --from 2024-09-12 --to 2024-09-12)
exp_row=$(tail -n +2 <<<"$exp")
close_line=$(grep -E "^ohlcv_daily +close " <<<"$out")
check "online close = export" same_number "$(awk '{print $3}' <<<"$close_line")" \
  "$(cut -d, -f"$(col "$exp" close)" <<<"$exp_row")"
check "online event timestamp" contains "$close_line" "2024-09-12T00:00:00Z"
check "online rsi" same_number "$(grep -E '^technical_daily +rsi_14 ' <<<"$out" | awk '{print $3}')" \
  "$(cut -d, -f"$(col "$exp" rsi_14)" <<<"$exp_row")"
check "online list shows its length" grep -Eq "^model_window +close_window +\[61\] \.\.\. " <<<"$out"
check "features filter" [ "$(grep -c . <<<"$out")" -eq 4 ]
json=$("$SAO" features online AAPL --view model_window --format json)
check "json list in full" [ "$(grep -o '"close_window":\[[^]]*\]' <<<"$json" | tr ',' '\n' | wc -l)" -eq 61 ]
check "json names the view" contains "$json" '"view":"model_window","event_timestamp":"2024-09-12T00:00:00Z"'
run_err 1 "BTC-USD has no online data in view" online BTC-USD --view technical_daily
run_err 1 "no feature view 'nope'" online AAPL --view nope
run_err 1 "no feature 'nope'" online AAPL --features nope
run_err 2 "no ticker given" online
run_err 2 "--format must be table or json" online AAPL --format xml
SAO_REDIS_CONNECTION="127.0.0.1:1" run_err 1 "cannot reach the online store" online AAPL

finish "sao features"
