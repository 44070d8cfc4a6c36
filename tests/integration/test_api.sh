#!/usr/bin/env bash
# End-to-end tests of `sao serve` over real HTTP, with real bars (^GSPC, AAPL), a real
# redis-server and tiny models: every route and its JSON, every error status, training tasks,
# the Prometheus exposition (promtool), a model promoted during traffic, a Redis restart during
# traffic (503 with Retry-After, then recovery without restarting the server), hostile input
# (traversal, bad UTF-8, bad JSON, huge headers and bodies, slow clients) and SIGTERM under load
# (requests in flight finish, exit 0).
set -euo pipefail
SAO="${SAO_BIN:?}"
SRC="${SAO_SOURCE_DIR:?}"
SHARED="${SAO_SHARED_DIR:-${SAO_DEFAULT_SHARED_DIR:?}}"
OHLCV="$SHARED/data/ohlcv"
for tool in redis-server redis-cli curl python3; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool is not installed"; exit 1; }
done
work=$(mktemp -d)
redis_pid="" serve_pid="" limited_pid="" pid=""
cleanup() {
  touch "$work/stop"
  for p in $pid $serve_pid $limited_pid $redis_pid; do kill "$p" 2>/dev/null || true; done
  for p in $pid $serve_pid $limited_pid $redis_pid; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/repo" "$work/docs" "$work/contract"
cp "$SRC/feature_store/feature_store.yaml" "$SRC/feature_store/features.yaml" "$work/repo/"
export SAO_HOME="$work/home" SAO_LOG_FORMAT=json SAO_PROGRESS=off SAO_FEATURE_REPO="$work/repo"
unset SAO_ADMIN_TOKEN SAO_API_RATE_LIMIT SAO_DOCS_DIR SAO_API_PORT SAO_API_HOST || true
source "$SRC/tests/integration/lib.sh"

# --- HTTP helpers -------------------------------------------------------------------------------
# req METHOD PATH [CURL ARGS...]: $code, the body in $work/body, the headers in $work/head.
req() {
  local method="$1" path="$2"; shift 2
  code=$(curl -s -o "$work/body" -D "$work/head" -w '%{http_code}' -X "$method" "$@" \
    "$base$path" || true)
}
body() { cat "$work/body"; }
# j EXPR: a Python expression over the JSON body `d`; strings print bare, the rest as JSON.
j() {
  python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
v = eval(sys.argv[2])
print(v if isinstance(v, str) else json.dumps(v))' "$work/body" "$1" 2>/dev/null || echo "<no json>"
}
# keep SCHEMA: the body is checked against that schema of the OpenAPI document at the end.
keep() { cp "$work/body" "$work/contract/$1.$((++kept)).json"; }
kept=0
header() { grep -i "^$1:" "$work/head" | head -n 1 | cut -d' ' -f2- | tr -d '\r'; }
# expect NAME STATUS CODE: the last answer had STATUS and an Error body with CODE.
expect() {
  local ok=1
  [ "$code" = "$2" ] || ok=0
  [ "$(j 'd["error"]["code"]')" = "$3" ] || ok=0
  [ -n "$(j 'd["error"]["message"]')" ] || ok=0
  keep Error
  if [ "$ok" = 1 ]; then pass=$((pass + 1)); else
    echo "FAIL: $1: got $code $(head -c 300 "$work/body")"; fails=$((fails + 1)); fi
}

# --- Redis, data, models ------------------------------------------------------------------------
start_redis --dir "$work" --dbfilename dump.rdb
redis_port=$port
export SAO_REDIS_CONNECTION="127.0.0.1:$redis_port"

"$SAO" ingest ^GSPC --file "$OHLCV/yahoo_daily_GSPC_1990-01-02_2024-09-12_johnvb21.csv" \
  --from 2014-01-01 >/dev/null 2>&1
"$SAO" ingest AAPL --file "$OHLCV/yahoo_daily_AAPL_1990-01-02_2024-09-12_johnvb21.csv" \
  --from 2016-01-01 >/dev/null 2>&1
"$SAO" apply >/dev/null 2>&1
# The data ends 2024-09-12: materialize up to it (from its end less the views' ttl).
"$SAO" materialize-incremental 2024-09-12 >/dev/null 2>&1
small=(--hidden 8 --layers 1 --epochs 1 --context 20 --batch 64 --dropout 0)
"$SAO" train ^GSPC "${small[@]}" >/dev/null 2>&1
"$SAO" train AAPL "${small[@]}" >/dev/null 2>&1
aapl_rows=$("$SAO" export AAPL | tail -n +2 | wc -l)
close_0912=$("$SAO" export AAPL --from 2024-09-12 --to 2024-09-12 --format json |
  grep -o '"close":[0-9.e+-]*' | cut -d: -f2)

# --- the server ---------------------------------------------------------------------------------
# start_serve LOG [ENV...]: starts `sao serve --port 0`, waits for its URL; sets $pid and $url.
start_serve() {
  local log="$1"; shift
  env "$@" "$SAO" serve --port 0 --threads 2 2>"$log" &
  pid=$!
  url=""
  for _ in $(seq 200); do
    url=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$log" | head -n 1 | cut -d' ' -f3 || true)
    [ -n "$url" ] && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  echo "FAIL: sao serve did not start:"; cat "$log"; exit 1
}
token=t0k3n-for-tests
start_serve "$work/serve.log" SAO_ADMIN_TOKEN="$token" SAO_DOCS_DIR="$work/docs"
serve_pid=$pid
base=$url
auth=(-H "Authorization: Bearer $token")
check "start-up prints the docs URL" grep -q "$base/docs" "$work/serve.log"
check "start-up prints the metrics URL" grep -q "$base/metrics" "$work/serve.log"

# --- probes -------------------------------------------------------------------------------------
req GET /healthz
check "healthz 200" [ "$code" = 200 ]
check "healthz body" [ "$(body)" = '{"status":"ok"}' ]
keep Health
code=$(curl -s -o /dev/null -w '%{http_code}' -I "$base/healthz")
check "HEAD healthz 200" [ "$code" = 200 ]
req GET /readyz
check "readyz 200 with Redis up and models" [ "$code" = 200 ]
check "readyz says ready" [ "$(j 'd["status"]')" = ready ]
keep Readiness
check "readyz counts the models" [ "$(j 'd["checks"]["models_loaded"]')" = 2 ]

# --- forecasts ----------------------------------------------------------------------------------
req GET /api/v1/predict/AAPL -H "X-Request-Id: trace-123"
check "predict 200" [ "$code" = 200 ]
keep Forecast
check "predict ticker" [ "$(j 'd["ticker"]')" = AAPL ]
check "predict asset class" [ "$(j 'd["asset_class"]')" = equity ]
check "predict as_of is the last bar" [ "$(j 'd["as_of"]')" = 2024-09-12 ]
check "predict five days" [ "$(j 'len(d["predictions"])')" = 5 ]
check "predict first day is the next trading day" \
  [ "$(j 'd["predictions"][0]["date"]')" = 2024-09-13 ]
check "predict skips the weekend" [ "$(j 'd["predictions"][1]["date"]')" = 2024-09-16 ]
check "predict reference close is the last close" \
  python3 -c "import sys; sys.exit(abs($(j 'd["predictions"][0]["last_close"]') - $close_0912) > 1e-9)"
check "predict closes are numbers" [ "$(j 'all(isinstance(p["close"], float) for p in d["predictions"])')" = true ]
check "predict model" [ "$(j 'd["model"]')" = '{"name": "AAPL/v1", "version": 1, "arch": "lstm", "parent": null}' ]
check "predict baselines" [ "$(j '[len(d["baselines"]["persistence"]), len(d["baselines"]["drift"])]')" = "[5, 5]" ]
check "predict persistence is the last close" \
  [ "$(j 'd["baselines"]["persistence"][4] == d["predictions"][0]["last_close"]')" = true ]
check "predict request id echoes the client's" [ "$(j 'd["request_id"]')" = trace-123 ]
check "predict X-Request-Id header" [ "$(header X-Request-Id)" = trace-123 ]
check "predict is not cacheable by HTTP caches" [ "$(header Cache-Control)" = no-store ]
first_cached=$(j 'd["cached"]')
req GET /api/v1/predict/aapl
check "second predict comes from the cache" [ "$(j 'd["cached"]')" = true ]
check "first predict was computed" [ "$first_cached" = false ]
req GET "/api/v1/predict/AAPL?cache=false"
check "cache=false computes" [ "$(j 'd["cached"]')" = false ]
req GET "/api/v1/predict/AAPL?cache=maybe"
expect "cache=maybe is a 400" 400 bad_request
req GET /predict/%5EGSPC
check "legacy path 200" [ "$code" = 200 ]
keep Forecast
check "legacy path answers the index" [ "$(j '[d["ticker"], d["asset_class"]]')" = '["^GSPC", "index"]' ]
req GET /api/v1/predict/MSFT
expect "predict without a model is a 404" 404 model_not_found
check "404 says how to train" contains "$(j 'd["error"]["message"]')" 'sao train MSFT'
check "404 names the train route" contains "$(j 'd["error"]["message"]')" 'POST /api/v1/train'
req GET /api/v1/predict/BAD..TICKER
expect "bad ticker syntax is a 400" 400 bad_ticker

# --- tickers and history ------------------------------------------------------------------------
req GET /api/v1/tickers
check "tickers 200" [ "$code" = 200 ]
keep TickerList
check "tickers count" [ "$(j 'd["count"]')" = 2 ]
check "tickers sorted" [ "$(j '[t["ticker"] for t in d["tickers"]]')" = '["AAPL", "^GSPC"]' ]
check "tickers entry" [ "$(j '{k: d["tickers"][0][k] for k in ("asset_class", "first_date", "last_date", "serving_version", "versions")}')" = \
  '{"asset_class": "equity", "first_date": "2016-01-04", "last_date": "2024-09-12", "serving_version": 1, "versions": [1]}' ]
check "tickers rows are the stored rows" [ "$(j 'd["tickers"][0]["rows"]')" = "$aapl_rows" ]

req GET "/api/v1/tickers/AAPL/history?from=2024-09-01&to=2024-09-12&fields=close,rsi_14,nvt_proxy"
check "history 200" [ "$code" = 200 ]
keep History
check "history rows in range" [ "$(j '[r["date"] for r in d["rows"]]')" = \
  '["2024-09-03", "2024-09-04", "2024-09-05", "2024-09-06", "2024-09-09", "2024-09-10", "2024-09-11", "2024-09-12"]' ]
check "history fields" [ "$(j 'list(d["rows"][0].keys())')" = '["date", "close", "rsi_14", "nvt_proxy"]' ]
check "history values are the stored ones" \
  python3 -c "import sys; sys.exit($(j 'd["rows"][-1]["close"]') != $close_0912)"
check "history: a crypto proxy of a stock is null" [ "$(j 'd["rows"][0]["nvt_proxy"]')" = null ]
check "history not truncated" [ "$(j '[d["count"], d["total"], d["truncated"], d["next_from"]]')" = '[8, 8, false, null]' ]
req GET "/api/v1/tickers/AAPL/history?from=2024-09-01&limit=3&fields=close"
keep History
check "history truncated says so" [ "$(j '[d["count"], d["total"], d["truncated"], d["next_from"]]')" = '[3, 8, true, "2024-09-06"]' ]
req GET "/api/v1/tickers/AAPL/history?from=2024-09-06&limit=3&fields=close"
check "next_from continues the page" [ "$(j 'd["rows"][0]["date"]')" = 2024-09-06 ]
req GET "/api/v1/tickers/AAPL/history"
check "history default limit" [ "$(j '[d["count"], d["limit"], d["truncated"]]')" = '[1000, 1000, true]' ]
check "history default fields: all" [ "$(j 'len(d["fields"]) >= 30 and "close" in d["fields"] and "ichimoku_chikou" in d["fields"]')" = true ]
check "history warm-up values are null" [ "$(j 'd["rows"][0]["sma_20"]')" = null ]
req GET "/api/v1/tickers/AAPL/history?fields=close,bogus"
expect "unknown field is a 400" 400 unknown_field
check "unknown field lists the valid ones" contains "$(j 'd["error"]["message"]')" "valid fields: open, high, low, close"
req GET "/api/v1/tickers/AAPL/history?from=2024-09-10&to=2024-09-01"
expect "from after to is a 400" 400 bad_request
req GET "/api/v1/tickers/AAPL/history?from=2024-13-01"
expect "a bad date is a 400" 400 bad_request
req GET "/api/v1/tickers/AAPL/history?from=yesterday"
expect "a date that is not YYYY-MM-DD is a 400" 400 bad_request
req GET "/api/v1/tickers/AAPL/history?limit=0"
expect "limit 0 is a 400" 400 bad_request
req GET "/api/v1/tickers/AAPL/history?limit=100001"
expect "a limit past the cap is a 400" 400 bad_request
req GET /api/v1/tickers/ZZZ/history
expect "unknown ticker history is a 404" 404 ticker_not_found

# --- online features ----------------------------------------------------------------------------
req GET /api/v1/tickers/AAPL/features
check "features 200" [ "$code" = 200 ]
keep Features
check "features: every view" [ "$(j '[v["view"] for v in d["views"]]')" = '["ohlcv_daily", "technical_daily", "model_window"]' ]
check "features: timestamps" [ "$(j 'd["views"][0]["event_timestamp"]')" = 2024-09-12T00:00:00Z ]
check "features: the last close" python3 -c "import sys; sys.exit($(j 'd["views"][0]["features"]["close"]') != $close_0912)"
check "features: an indicator" [ "$(j 'isinstance(d["views"][1]["features"]["rsi_14"], float)')" = true ]
check "features: window lists" [ "$(j 'len(d["views"][2]["features"]["close_window"])')" = 61 ]
req GET /api/v1/tickers/MSFT/features
expect "features of a ticker never materialized is a 404" 404 features_not_found

# --- models -------------------------------------------------------------------------------------
req GET /api/v1/models
check "models 200" [ "$code" = 200 ]
keep ModelList
check "models list" [ "$(j '[(m["ticker"], m["serving_version"], m["loaded_version"], m["versions"]) for m in d["models"]]')" = \
  '[["AAPL", 1, 1, [1]], ["^GSPC", 1, 1, [1]]]' ]
check "models: metrics vs baselines" [ "$(j 'sorted(d["models"][0]["serving"]["metrics"].keys())')" = \
  '["beats_persistence", "drift", "mae_ratio", "model", "persistence", "test_windows"]' ]
check "models: error measures" [ "$(j 'sorted(d["models"][0]["serving"]["metrics"]["model"].keys())')" = \
  '["directional", "mae", "mape", "rmse"]' ]
check "models: persistence calls no direction" [ "$(j 'd["models"][0]["serving"]["metrics"]["persistence"]["directional"]')" = null ]
req GET /api/v1/models/%5EGSPC
check "model detail 200" [ "$code" = 200 ]
keep ModelDetail
check "model detail versions" [ "$(j '[(v["version"], v["serving"], v["arch"], v["context"]) for v in d["versions"]]')" = '[[1, true, "lstm", 20]]' ]
check "model detail ratio" [ "$(j 'd["versions"][0]["metrics"]["mae_ratio"] > 0')" = true ]
req GET /api/v1/models/ZZZ
expect "model of an unknown ticker is a 404" 404 model_not_found
check "model 404 says how to train" contains "$(j 'd["error"]["message"]')" "sao train ZZZ"

# A model, but nothing materialized for it: the forecast says what to run.
"$SAO" ingest GOOGL --file "$OHLCV/yahoo_daily_GOOGL_2004-08-19_2024-09-12_johnvb21.csv" \
  --from 2019-01-01 >/dev/null 2>&1
"$SAO" train GOOGL "${small[@]}" >/dev/null 2>&1
req GET /api/v1/predict/GOOGL
expect "a model without online features is a 404" 404 features_not_found
check "that 404 says to materialize" contains "$(j 'd["error"]["message"]')" "materialize"

# History after a re-ingest: the server keeps a ticker's decoded columns, and must notice that
# its files were replaced.
amzn_csv="$OHLCV/yahoo_daily_AMZN_1997-05-15_2024-09-12_johnvb21.csv"
"$SAO" ingest AMZN --file "$amzn_csv" --from 2024-01-02 --to 2024-08-30 >/dev/null 2>&1
for _ in 1 2; do # the second answer comes from the kept columns
  req GET "/api/v1/tickers/AMZN/history?from=2024-08-26&fields=close,rsi_14"
  check "history before a re-ingest" [ "$(j '[d["count"], d["rows"][-1]["date"]]')" = '[5, "2024-08-30"]' ]
done
"$SAO" ingest AMZN --file "$amzn_csv" --to 2024-09-12 >/dev/null 2>&1
req GET "/api/v1/tickers/AMZN/history?from=2024-08-26&fields=close,rsi_14"
check "history after a re-ingest has the new rows" \
  [ "$(j '[d["count"], d["rows"][4]["date"], d["rows"][-1]["date"]]')" = '[13, "2024-08-30", "2024-09-12"]' ]
check "the new rows have their indicators" \
  [ "$(j 'all(isinstance(r["rsi_14"], float) for r in d["rows"])')" = true ]

# --- routing errors -----------------------------------------------------------------------------
req DELETE /api/v1/predict/AAPL
expect "DELETE is a 405" 405 method_not_allowed
check "405 has Allow" contains "$(header Allow)" GET
req POST /healthz
expect "POST /healthz is a 405" 405 method_not_allowed
req GET /api/v1/train
expect "GET /api/v1/train is a 405" 405 method_not_allowed
req GET /api/v1/nothing-here
expect "unknown route is a 404" 404 not_found

# --- OpenAPI and /docs ----------------------------------------------------------------------------
req GET /openapi.json
check "openapi 200" [ "$code" = 200 ]
check "openapi 3.1" [ "$(j 'd["openapi"]')" = 3.1.0 ]
check "openapi documents predict" [ "$(j '"/api/v1/predict/{ticker}" in d["paths"]')" = true ]
etag=$(header ETag)
code=$(curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" "$base/openapi.json")
check "openapi revalidates with 304" [ "$code" = 304 ]
req GET /docs
expect "docs without assets is a 503" 503 docs_not_installed
check "docs 503 says how to install" contains "$(j 'd["error"]["message"]')" "scripts/fetch_web_assets.sh"
assets="$SRC/web/docs/node_modules/swagger-ui-dist"
for f in swagger-ui.css swagger-ui-bundle.js swagger-ui-standalone-preset.js favicon-32x32.png favicon-16x16.png; do
  # The real package when set-up installed it; else stand-ins (the serving is what is tested).
  if [ -s "$assets/$f" ]; then cp "$assets/$f" "$work/docs/"; else echo "/* $f */" >"$work/docs/$f"; fi
done
echo '{"secret": true}' >"$work/docs/package.json"
req GET /docs
check "docs 200 once installed" [ "$code" = 200 ]
check "docs is HTML" contains "$(header Content-Type)" text/html
check "docs loads the local bundle" contains "$(body)" 'src="/docs/swagger-ui-bundle.js"'
check "docs loads the local css" contains "$(body)" 'href="/docs/swagger-ui.css"'
check "docs uses no CDN" [ "$(grep -c 'https\?://' "$work/body")" = 0 ]
check "docs has a CSP" contains "$(header Content-Security-Policy)" "script-src 'self'"
req GET /docs/sao-docs.js
check "docs initializer loads /openapi.json" contains "$(body)" "url: '/openapi.json'"
req GET /docs/swagger-ui-bundle.js
check "asset 200" [ "$code" = 200 ]
check "asset type" contains "$(header Content-Type)" text/javascript
check "asset cache lifetime" contains "$(header Cache-Control)" max-age=
check "asset bytes" cmp -s "$work/body" "$work/docs/swagger-ui-bundle.js"
req GET /docs/swagger-ui.css
check "css type" contains "$(header Content-Type)" text/css
req GET /docs/package.json
expect "a file off the allow-list is a 404" 404 not_found
req GET /docs/..%2Fpackage.json
expect "an encoded traversal of the docs is a 400" 400 bad_request

# --- training tasks -----------------------------------------------------------------------------
req POST /api/v1/train -d '{"ticker":"AAPL"}'
expect "train without a token is a 401" 401 unauthorized
check "401 says Bearer" contains "$(header WWW-Authenticate)" Bearer
req POST /api/v1/train -H "Authorization: Bearer wrong" -d '{"ticker":"AAPL"}'
expect "train with a wrong token is a 401" 401 unauthorized
req POST /api/v1/train -H "Authorization: Basic dXNlcjpwdw==" -d '{"ticker":"AAPL"}'
expect "train with another scheme is a 401" 401 unauthorized
req POST /api/v1/train "${auth[@]}" -d '{"ticker":'
expect "invalid JSON is a 400" 400 invalid_json
printf '{"ticker":"AAPL\xff"}' >"$work/bad_utf8"
req POST /api/v1/train "${auth[@]}" --data-binary @"$work/bad_utf8"
expect "invalid UTF-8 is a 400" 400 invalid_json
req POST /api/v1/train "${auth[@]}"
expect "no body is a 400" 400 bad_request
req POST /api/v1/train "${auth[@]}" -d '[1]'
expect "a body that is not an object is a 400" 400 bad_request
req POST /api/v1/train "${auth[@]}" -d '{}'
expect "a missing ticker is a 400" 400 bad_request
req POST /api/v1/train "${auth[@]}" -d '{"ticker":"../etc"}'
expect "bad ticker syntax in the body is a 400" 400 bad_ticker
req POST /api/v1/train "${auth[@]}" -d '{"ticker":"AAPL","epochs":0}'
expect "epochs 0 is a 400" 400 bad_request
req POST /api/v1/train "${auth[@]}" -d '{"ticker":"AAPL","epochs":"5"}'
expect "epochs as text is a 400" 400 bad_request
req POST /api/v1/train "${auth[@]}" -d '{"ticker":"AAPL","arch":"rnn"}'
expect "an unknown arch is a 400" 400 bad_request
req POST /api/v1/train "${auth[@]}" -d '{"ticker":"AAPL","learning_rate":1}'
expect "an unknown member is a 400" 400 bad_request
req POST /api/v1/train "${auth[@]}" -d '{"ticker":"AAPL","ticker":"^GSPC"}'
expect "a duplicated member is a 400" 400 invalid_json
req POST /api/v1/train "${auth[@]}" -d '{"ticker":"MSFT"}'
expect "training a ticker never ingested is a 404" 404 ticker_not_found
req POST /api/v1/train "${auth[@]}" -d '{"ticker":"AAPL","parent":"MSFT"}'
expect "a parent without a model is a 404" 404 model_not_found

# One training at a time: ^GSPC first (long enough to overlap), then the same ticker again (the
# same task), then AAPL (queued behind it).
req POST /api/v1/train "${auth[@]}" -d '{"ticker":"^gspc","epochs":30,"hidden":32,"layers":2}'
check "train 202" [ "$code" = 202 ]
keep Task
gspc_task=$(j 'd["task_id"]')
check "train Location" [ "$(header Location)" = "/api/v1/tasks/$gspc_task" ]
check "train answers the task" [ "$(j '[d["ticker"], d["status"] in ("queued", "running"), d["epochs"]]')" = '["^GSPC", true, 30]' ]
req POST /api/v1/train "${auth[@]}" -d '{"ticker":"^GSPC","epochs":3}'
check "the same ticker again: 200" [ "$code" = 200 ]
check "the same ticker again: the same task" [ "$(j 'd["task_id"]')" = "$gspc_task" ]
req POST /api/v1/train "${auth[@]}" -d '{"ticker":"AAPL","epochs":1,"hidden":8,"layers":1,"arch":"gru"}'
check "a second ticker: 202" [ "$code" = 202 ]
aapl_task=$(j 'd["task_id"]')
check "a second ticker: another task" [ "$aapl_task" != "$gspc_task" ]
overlap=0 saw_progress=0
for _ in $(seq 600); do
  # The second task first: a task never returns to running, so the first one still running
  # after the second was seen running means both ran at once (the other order races with the
  # hand-over between them).
  req GET "/api/v1/tasks/$aapl_task"; a=$(j 'd["status"]')
  req GET "/api/v1/tasks/$gspc_task"; g=$(j 'd["status"]')
  [ "$(j '0 < d["epoch"] < d["epochs"] and len(d["losses"]["train"]) == d["epoch"]')" = true ] && saw_progress=1
  [ "$g" = running ] && [ "$a" = running ] && overlap=1
  case "$g/$a" in succeeded/succeeded|failed/*|*/failed) break ;; esac
  sleep 0.1
done
check "the first task succeeded" [ "$g" = succeeded ]
check "the second task succeeded" [ "$a" = succeeded ]
check "never two trainings at once" [ "$overlap" = 0 ]
check "epochs and losses reported while running" [ "$saw_progress" = 1 ]
req GET "/api/v1/tasks/$gspc_task"
keep Task
gspc_finished=$(j 'd["finished"]')
check "finished task: version, losses, metrics" [ "$(j '[d["version"], d["epoch"] >= 1, len(d["losses"]["val"]) == d["epoch"], isinstance(d["serving"], bool), "mae_ratio" in d["metrics"], d["error"]]')" = '[2, true, true, true, true, null]' ]
req GET "/api/v1/tasks/$aapl_task"
check "queued behind: started once the first finished" [ ! "$(j 'd["started"]')" \< "$gspc_finished" ]
check "the second task's version" [ "$(j '[d["version"], d["params"]["arch"]]')" = '[2, "gru"]' ]
req GET /api/v1/tasks/0123456789abcdef0123456789abcdef
expect "an unknown task is a 404" 404 task_not_found
req GET /api/v1/models/%5EGSPC
check "the trained version is registered" [ "$(j '[v["version"] for v in d["versions"]]')" = '[1, 2]' ]
keep ModelDetail

# --- hostile input ------------------------------------------------------------------------------
req GET /api/v1/predict/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
expect "an over-long ticker is a 400" 400 bad_ticker
req GET /api/v1/predict/%C3%A9
expect "a non-ASCII ticker is a 400" 400 bad_ticker
req GET /api/v1/predict/%FF%FE
expect "invalid UTF-8 in the path is a 400" 400 bad_request
req GET /api/v1/predict/AA%00PL
expect "a NUL in the path is a 400" 400 bad_request
req GET /api/v1/tickers/..%2F..%2Fetc/history
expect "an encoded traversal is a 400" 400 bad_request
req GET /api/v1/tickers/../../etc/history --path-as-is
expect "a raw traversal is a 400" 400 bad_request
req GET "/api/v1/tickers/AAPL/history?fields=close%FF"
expect "invalid UTF-8 in a query is a 400" 400 bad_request
req GET "/api/v1/predict/AAPL?cache=%FF"
expect "a query value that would read as absent is a 400" 400 bad_request
big_header=$(head -c 40000 /dev/zero | tr '\0' a)
code=$(curl -s -o /dev/null -w '%{http_code}' -H "X-Big: $big_header" "$base/healthz")
check "a huge header is a 431" [ "$code" = 431 ]
code=$(curl -s -o /dev/null -w '%{http_code}' "$base/api/v1/predict/AAPL?x=$big_header")
check "a huge URL is a 414" [ "$code" = 414 ]
head -c 200000 /dev/zero | tr '\0' a >"$work/big_body"
req POST /api/v1/train "${auth[@]}" --data-binary @"$work/big_body"
expect "a huge body is a 413" 413 payload_too_large
req POST /api/v1/train "${auth[@]}" -H "Transfer-Encoding: chunked" --data-binary @"$work/big_body"
expect "a huge chunked body is a 413" 413 payload_too_large
# Slow clients that dribble half a request hold no worker: the others are served at once.
slow_fds=()
for _ in $(seq 8); do
  exec {fd}<>"/dev/tcp/127.0.0.1/${base##*:}"
  printf 'GET /api/v1/tickers HTTP/1.1\r\nHost: x\r\nX-Slow: ' >&"$fd"
  slow_fds+=("$fd")
done
slow_ok=0
for _ in $(seq 20); do
  t=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' "$base/api/v1/predict/AAPL")
  awk -v t="$t" 'BEGIN{split(t, a, " "); exit !(a[1] == 200 && a[2] < 1.0)}' && slow_ok=$((slow_ok + 1))
done
check "served promptly beside slow clients" [ "$slow_ok" = 20 ]
for fd in "${slow_fds[@]}"; do exec {fd}>&-; done

# --- a second server: rate limit, training disabled, no docs ------------------------------------
start_serve "$work/limited.log" SAO_API_RATE_LIMIT=1 SAO_API_RATE_BURST=2 \
  SAO_DOCS_DIR="$work/nowhere" SAO_PREDICT_CACHE=0
limited_pid=$pid
codes=""
for _ in 1 2 3; do codes="$codes $(curl -s -o "$work/body" -D "$work/head" -w '%{http_code}' "$url/api/v1/tickers")"; done
code=429
check "the third request past the burst is a 429" [ "$codes" = " 200 200 429" ]
expect "429 body" 429 too_many_requests
check "429 says when to retry" [ -n "$(header Retry-After)" ]
check "probes are not rate limited" [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/healthz")" = 200 ]
sleep 1.1
code=$(curl -s -o "$work/body" -w '%{http_code}' -X POST -d '{"ticker":"AAPL"}' "$url/api/v1/train")
expect "train without SAO_ADMIN_TOKEN is a 403" 403 disabled
sleep 1.1
code=$(curl -s -o "$work/body" -w '%{http_code}' "$url/api/v1/predict/AAPL")
check "SAO_PREDICT_CACHE=0 bypasses the cache" [ "$(j 'd["cached"]')" = false ]
kill -TERM "$limited_pid"; wait "$limited_pid" || true; limited_pid=""
code=$(curl -s -o /dev/null -w '%{http_code}' "$url/metrics" || true)
check "the second server stopped" [ "$code" = 000 ]

# --- a model promoted during traffic ------------------------------------------------------------
req GET /api/v1/models/AAPL
old_version=$(j 'd["serving_version"]')
traffic() { # traffic PATH OUT: requests PATH until $work/stop exists; one "status body" a line
  while [ ! -e "$work/stop" ]; do
    curl -s -w ' %{http_code}\n' "$base$1" >>"$2" 2>/dev/null || echo " 000" >>"$2"
  done
}
rm -f "$work/stop"
traffic /api/v1/predict/AAPL "$work/promote.txt" & t1=$!
traffic "/api/v1/predict/AAPL?cache=false" "$work/promote.txt" & t2=$!
sleep 0.5
out=$("$SAO" train AAPL "${small[@]}" --seed 7 --promote always 2>&1)
new_version=$(grep -o 'wrote AAPL v[0-9]*' <<<"$out" | grep -o '[0-9]*$')
sleep 0.8
touch "$work/stop"; wait "$t1" "$t2"
statuses=$(awk '{print $NF}' "$work/promote.txt" | sort | uniq -c | awk '{print $2}' | tr '\n' ' ')
check "promotion under traffic: every answer 200" [ "$statuses" = "200 " ]
versions=$(grep -o '"version":[0-9]*' "$work/promote.txt" | sort -u | cut -d: -f2 | tr '\n' ' ')
check "promotion under traffic: old then new version" [ "$versions" = "$old_version $new_version " ]
check "promotion under traffic: many requests" [ "$(wc -l <"$work/promote.txt")" -gt 20 ]
req GET /api/v1/predict/AAPL
check "the new version serves" [ "$(j 'd["model"]["version"]')" = "$new_version" ]

# --- metrics ------------------------------------------------------------------------------------
req GET /metrics
check "metrics 200" [ "$code" = 200 ]
check "metrics content type" contains "$(header Content-Type)" "text/plain; version=0.0.4"
check "predictions by ticker" grep -Eq '^sao_predictions_total\{ticker="AAPL"\} [1-9]' "$work/body"
check "no series for tickers without a model" [ "$(grep -c 'sao_predictions_total{ticker="MSFT"}' "$work/body")" = 0 ]
check "cache hits" grep -Eq '^sao_prediction_cache_total\{result="hit"\} [1-9]' "$work/body"
check "cache misses" grep -Eq '^sao_prediction_cache_total\{result="miss"\} [1-9]' "$work/body"
check "cache bypasses" grep -Eq '^sao_prediction_cache_total\{result="bypass"\} [1-9]' "$work/body"
check "model info of the new version" grep -q "^sao_model_info{ticker=\"AAPL\",version=\"$new_version\",arch=\"lstm\"} 1" "$work/body"
check "no stale model info" [ "$(grep -c "^sao_model_info{ticker=\"AAPL\",version=\"$old_version\"" "$work/body")" = 0 ]
check "redis errors counter" grep -q '^sao_redis_errors_total 0' "$work/body"
check "http metrics" grep -q '^http_requests_total{route="/api/v1/predict/{ticker}",method="GET",status="200"}' "$work/body"
check "process metrics" grep -q '^process_resident_memory_bytes ' "$work/body"
if command -v promtool >/dev/null; then
  check "promtool check metrics" promtool check metrics <"$work/body"
else
  echo "note: promtool not installed; exposition not checked by it"
fi

# --- a Redis restart during traffic -------------------------------------------------------------
redis-cli -p "$redis_port" save >/dev/null
rm -f "$work/stop"
traffic "/api/v1/predict/AAPL?cache=false" "$work/redis.txt" & t1=$!
sleep 0.3
kill "$redis_pid"; wait "$redis_pid" 2>/dev/null || true; redis_pid=""
sleep 0.3
req GET "/api/v1/predict/AAPL?cache=false"
expect "predict with Redis down is a 503" 503 unavailable
check "503 has Retry-After" [ -n "$(header Retry-After)" ]
req GET /api/v1/tickers/AAPL/features
expect "features with Redis down is a 503" 503 unavailable
check "features 503 has Retry-After" [ -n "$(header Retry-After)" ]
# Failing fast keeps the workers free: no request waits on a connection attempt but the one
# probe a second.
fast=0
for _ in $(seq 20); do
  t=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' "$base/api/v1/predict/AAPL")
  awk -v t="$t" 'BEGIN{split(t, a, " "); exit !(a[1] == 503 && a[2] < 0.05)}' && fast=$((fast + 1))
done
check "503s are answered at once" [ "$fast" -ge 18 ]
t=$(curl -s -o /dev/null -w '%{time_total}' "$base/healthz")
check "other routes keep their speed" awk -v t="$t" 'BEGIN{exit !(t < 0.05)}'
req GET /readyz
expect "readyz with Redis down is a 503" 503 not_ready
check "readyz says why" contains "$(j 'd["reasons"]')" unreachable
keep Readiness
req GET /healthz
check "healthz stays 200" [ "$code" = 200 ]
req GET "/api/v1/tickers/AAPL/history?from=2024-09-01&fields=close"
check "the offline store still serves" [ "$code" = 200 ]
req GET /metrics
check "redis errors counted" grep -Eq '^sao_redis_errors_total [1-9]' "$work/body"
start_redis --port "$redis_port" --dir "$work" --dbfilename dump.rdb
recovered=0
for _ in $(seq 50); do
  req GET "/api/v1/predict/AAPL?cache=false"
  [ "$code" = 200 ] && { recovered=1; break; }
  sleep 0.1
done
check "predictions recover without a restart" [ "$recovered" = 1 ]
req GET /readyz
check "readyz recovers" [ "$code" = 200 ]
sleep 0.3
touch "$work/stop"; wait "$t1"
statuses=$(awk '{print $NF}' "$work/redis.txt" | sort -u | tr '\n' ' ')
check "restart under traffic: only 200 and 503" [ "$statuses" = "200 503 " ]
check "every 503 was a clean error" [ "$(grep ' 503$' "$work/redis.txt" | grep -vc '"code":"unavailable"')" = 0 ]

# --- the answers against the OpenAPI document ---------------------------------------------------
req GET /openapi.json
cp "$work/body" "$work/openapi.json"
if python3 -c 'import jsonschema' 2>/dev/null; then
  check "every kept answer validates against its schema" python3 - "$work/openapi.json" "$work"/contract/*.json <<'EOF'
import json, os, sys
import jsonschema
doc = json.load(open(sys.argv[1]))
bad = 0
for path in sys.argv[2:]:
    name = os.path.basename(path).split(".")[0]
    schema = dict(doc, **{"$ref": "#/components/schemas/" + name})
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(json.load(open(path))))
    for e in errors[:3]:
        print("%s: %s at %s" % (name, e.message[:200], list(e.absolute_path)))
    bad += bool(errors)
sys.exit(bad != 0)
EOF
  check "answers of every schema were kept" [ "$(ls "$work/contract" | cut -d. -f1 | sort -u | wc -l)" -ge 10 ]
else
  echo "note: python3 has no jsonschema module; answers not validated against the document"
fi

# --- SIGTERM under load -------------------------------------------------------------------------
# Large answers read slowly are in flight when the signal comes; all must arrive whole.
slow=()
for i in $(seq 6); do
  curl -s --limit-rate 1000k -o "$work/slow$i.json" -w '%{http_code}' \
    "$base/api/v1/tickers/%5EGSPC/history?limit=10000" >"$work/slow$i.code" 2>/dev/null &
  slow+=($!)
done
rm -f "$work/stop"
traffic /api/v1/predict/AAPL "$work/term.txt" & t1=$!
for _ in $(seq 100); do
  started=0
  for i in $(seq 6); do [ -s "$work/slow$i.json" ] && started=$((started + 1)); done
  [ "$started" = 6 ] && break
  sleep 0.05
done
# And one request surely in flight: its headers are in, half its body is not.
exec {held}<>"/dev/tcp/127.0.0.1/${base##*:}"
held_body='{"ticker":"ZZZ"}'
printf 'POST /api/v1/train HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s' \
  "$token" "${#held_body}" "${held_body:0:8}" >&"$held"
sleep 0.2
kill -TERM "$serve_pid"
sleep 0.5
check "the server drains, not exits, with a request in flight" kill -0 "$serve_pid"
printf '%s' "${held_body:8}" >&"$held"
timeout 10 cat <&"$held" >"$work/held.txt" || true
exec {held}>&-
check "the request in flight is answered" grep -q '^HTTP/1.1 404' "$work/held.txt"
check "its answer is whole" grep -q '"code":"ticker_not_found"' "$work/held.txt"
set +e
wait "$serve_pid"; serve_rc=$?
set -e
serve_pid=""
touch "$work/stop"; wait "$t1" || true
check "sao serve exits 0 on SIGTERM" [ "$serve_rc" = 0 ]
complete=0
for i in $(seq 6); do
  wait "${slow[$((i - 1))]}" || true
  if [ "$(cat "$work/slow$i.code")" = 200 ] &&
    python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); sys.exit(d["count"] != len(d["rows"]) or d["count"] < 2000)' "$work/slow$i.json"; then
    complete=$((complete + 1))
  fi
done
check "requests in flight at SIGTERM all finish whole" [ "$complete" = 6 ]
check "the access log has the answer after the signal" [ "$(sed -n '/^SIGTERM: stopping/,$p' "$work/serve.log" |
  grep -c '"route":"/api/v1/train","status":404')" = 1 ]
# A request either is answered or finds the port closed (000); never an error status.
check "no error answers while stopping" [ -z "$(awk '$NF != 200 && $NF != "000"' "$work/term.txt")" ]
check "the server logged its stop" grep -q '"stopped"\|stopped' "$work/serve.log"
code=$(curl -s -o /dev/null -w '%{http_code}' "$base/healthz" || true)
check "nothing listens after the stop" [ "$code" = 000 ]

finish "sao serve"
