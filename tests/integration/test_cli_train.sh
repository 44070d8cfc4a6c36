#!/usr/bin/env bash
# End-to-end tests of `sao train` and `sao evaluate` on real daily bars: versions and their
# files, model.json's fields, promotion policies, a transfer-learning child, and clear errors.
# Small models and few epochs keep it to seconds.
set -euo pipefail
SAO="${SAO_BIN:?}"
SHARED="${SAO_SHARED_DIR:-${SAO_DEFAULT_SHARED_DIR:?}}"
OHLCV="$SHARED/data/ohlcv"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export SAO_HOME="$work/home" SAO_LOG_FORMAT=text SAO_PROGRESS=off
fails=0
pass=0
check() { # check NAME COND...
  local name="$1"; shift
  if "$@"; then pass=$((pass + 1)); else echo "FAIL: $name"; fails=$((fails + 1)); fi
}
contains() { grep -qF -- "$2" <<<"$1"; }
matches() { grep -qE -- "$2" <<<"$1"; }
lacks() { ! grep -qF -- "$2" <<<"$1"; }
# A field of a JSON file, through grep and sed so the test needs no JSON tool.
serving_of() { tr -d ' \n' <"$SAO_HOME/models/$1/registry.json" | sed -E 's/.*"serving":([0-9a-z]+).*/\1/'; }

"$SAO" ingest ^GSPC --file "$OHLCV/yahoo_daily_GSPC_1990-01-02_2024-09-12_johnvb21.csv" >/dev/null 2>&1
"$SAO" ingest AAPL --file "$OHLCV/yahoo_daily_AAPL_1990-01-02_2024-09-12_johnvb21.csv" >/dev/null 2>&1
small=(--hidden 16 --layers 1 --epochs 2 --context 20 --batch 64)

# --- a first version -----------------------------------------------------------------------------
out=$("$SAO" train ^GSPC "${small[@]}" --seed 1)
check "train reports the version" contains "$out" "wrote ^GSPC v1"
check "the first version serves" contains "$out" "serving: yes"
check "train prints the table" contains "$out" "persistence  all"
check "train gives the verdict" contains "$out" "beat persistence"
v1="$SAO_HOME/models/^GSPC/v1"
check "weights written" test -s "$v1/model.safetensors"
check "card written" test -s "$v1/model.json"
check "report written" grep -q "<polyline" "$v1/report.svg"
check "report is one svg" [ "$(grep -c '</svg>' "$v1/report.svg")" -eq 1 ]
card=$(cat "$v1/model.json")
for field in '"arch": "lstm"' '"hidden_size": 16' '"num_layers": 1' '"context_length": 20' \
  '"horizon": 5' '"target": "return"' '"name": "log_return_1d"' '"name": "atr_14_rel"' \
  '"source": "ohlcv_daily"' '"formula"' '"quantiles"' '"scaler"' '"beats_persistence"' \
  '"persistence"' '"drift"' '"mae_ratio"' '"splits"' '"validation"' '"parent": null' \
  '"epochs_run": 2' '"best_epoch"' '"seconds"' '"threads": 1'; do
  check "model.json has $field" contains "$card" "$field"
done
check "no raw price level among the inputs" lacks "$card" '"name": "close"'
check "data range is the stored range" contains "$card" '"last": "2024-09-12"'
check "registry names the serving version" [ "$(serving_of ^GSPC)" = 1 ]

out=$("$SAO" evaluate ^GSPC)
check "evaluate shows the serving version" contains "$out" "^GSPC v1 (serving)"
check "evaluate prints the stored table" contains "$out" "persistence  all"
check "evaluate shows the test dates" contains "$out" "test inputs"

# --- walk-forward backtest of the serving version ------------------------------------------------
out=$("$SAO" evaluate ^GSPC --walk-forward 2 --block 100)
check "walk-forward names the folds" contains "$out" "^GSPC v1: walk-forward backtest, 2 folds"
check "walk-forward uses the version's settings" contains "$out" "1 x 16 hidden, context 20"
check "walk-forward prints fold 1" matches "$out" '^1 +1990-[0-9-]+\.\.[0-9-]+ .* 100 +[0-9.]+ +[0-9.]+ +[0-9.]+$'
check "walk-forward prints fold 2" matches "$out" '^2 +1990-[0-9-]+\.\.[0-9-]+ .* 100 +[0-9.]+ +[0-9.]+ +[0-9.]+$'
check "the last fold ends on the last bar" matches "$out" '^2 .*\.\.2024-09-05 '
check "walk-forward pools the folds" contains "$out" "test split: 200 windows"
check "walk-forward gives the verdict" contains "$out" "beat persistence"
check "walk-forward writes no version" [ ! -d "$SAO_HOME/models/^GSPC/v2" ]

# --- promotion -----------------------------------------------------------------------------------
out=$("$SAO" train ^GSPC "${small[@]}" --seed 2 --promote never)
check "second train writes v2" contains "$out" "wrote ^GSPC v2"
check "never does not promote" contains "$out" "serving: no"
check "v1 still serves" [ "$(serving_of ^GSPC)" = 1 ]
out=$("$SAO" evaluate ^GSPC --version 2)
check "evaluate --version shows v2" contains "$out" "^GSPC v2:"
out=$("$SAO" train ^GSPC "${small[@]}" --seed 3 --promote always)
check "always promotes" contains "$out" "serving: yes"
check "v3 serves" [ "$(serving_of ^GSPC)" = 3 ]
# The same seed and data train the same model: if-better then finds it not worse.
out=$("$SAO" train ^GSPC "${small[@]}" --seed 3)
check "an equal validation loss is not worse" contains "$out" "serving: yes"
check "v4 serves" [ "$(serving_of ^GSPC)" = 4 ]

# --- transfer learning ---------------------------------------------------------------------------
out=$("$SAO" train AAPL --context 20 --epochs 2 --batch 64 --parent ^GSPC --transfer freeze)
check "child written" contains "$out" "wrote AAPL v1"
check "child names its parent" contains "$out" "parent: ^GSPC v4 (freeze)"
child=$(cat "$SAO_HOME/models/AAPL/v1/model.json")
check "child card records the parent" contains "$(tr -d ' \n' <<<"$child")" \
  '"parent":{"ticker":"^GSPC","version":4,"transfer":"freeze"}'
check "child takes the parent's shape" contains "$child" '"hidden_size": 16'
out=$("$SAO" evaluate AAPL)
check "evaluate shows the parent" contains "$out" "parent: ^GSPC v4 (freeze)"
out=$("$SAO" train AAPL --context 20 --epochs 1 --parent ^GSPC --transfer finetune --promote never)
check "finetune child" contains "$out" "parent: ^GSPC v4 (finetune)"

# --- errors --------------------------------------------------------------------------------------
set +e
err=$("$SAO" train MSFT "${small[@]}" 2>&1); rc=$?
check "unknown ticker exits 1" [ "$rc" -eq 1 ]
check "unknown ticker says to ingest" contains "$err" "no stored bars (run 'sao ingest MSFT' first)"
err=$("$SAO" train AAPL --context 30 --epochs 1 --parent ^GSPC 2>&1); rc=$?
check "parent with another context exits 1" [ "$rc" -eq 1 ]
check "parent mismatch is explained" contains "$err" "context 20"
err=$("$SAO" train AAPL --epochs 1 --parent MSFT 2>&1); rc=$?
check "parent without a model exits 1" [ "$rc" -eq 1 ]
check "parent without a model is explained" contains "$err" "no model registered for MSFT"
err=$("$SAO" evaluate MSFT 2>&1); rc=$?
check "evaluate unknown ticker exits 1" [ "$rc" -eq 1 ]
err=$("$SAO" evaluate ^GSPC --version 99 2>&1); rc=$?
check "evaluate unknown version exits 1" [ "$rc" -eq 1 ]
check "unknown version is named" contains "$err" "no version 99"
"$SAO" train ^GSPC --bogus >/dev/null 2>&1; rc=$?
check "bad option exits 2" [ "$rc" -eq 2 ]
"$SAO" train ^GSPC --arch transformer >/dev/null 2>&1; rc=$?
check "bad arch exits 2" [ "$rc" -eq 2 ]
"$SAO" train ^GSPC --promote maybe >/dev/null 2>&1; rc=$?
check "bad policy exits 2" [ "$rc" -eq 2 ]
"$SAO" train ^GSPC --transfer freeze >/dev/null 2>&1; rc=$?
check "transfer without parent exits 2" [ "$rc" -eq 2 ]
"$SAO" train >/dev/null 2>&1; rc=$?
check "no ticker exits 2" [ "$rc" -eq 2 ]
"$SAO" evaluate ^GSPC --version zero >/dev/null 2>&1; rc=$?
check "bad version exits 2" [ "$rc" -eq 2 ]
"$SAO" evaluate ^GSPC --walk-forward 0 >/dev/null 2>&1; rc=$?
check "zero folds exits 2" [ "$rc" -eq 2 ]
"$SAO" evaluate ^GSPC --block 50 >/dev/null 2>&1; rc=$?
check "block without walk-forward exits 2" [ "$rc" -eq 2 ]
err=$("$SAO" evaluate ^GSPC --walk-forward 3 --block 5000 2>&1); rc=$?
check "folds past the data exit 1" [ "$rc" -eq 1 ]
check "folds past the data are explained" contains "$err" "do not fit"
"$SAO" train --help | grep -q -- "--promote"; rc=$?
check "help lists the options" [ "$rc" -eq 0 ]
err=$("$SAO" train AAPL --target level 2>&1); rc=$?
check "bad target exits 2" [ "$rc" -eq 2 ]
check "bad target is named" contains "$err" "--target must be return or price"
err=$("$SAO" train AAPL "${small[@]}" --parent ^GSPC --target price 2>&1); rc=$?
check "a parent of other targets exits 1" [ "$rc" -eq 1 ]
check "a parent of other targets is explained" contains "$err" "predicts return targets"
set -e

# --- price targets: the card records the scaling that serving needs -----------------------------
out=$("$SAO" train AAPL "${small[@]}" --target price --promote never)
version=$(sed -nE 's/^wrote AAPL v([0-9]+) .*/\1/p' <<<"$out")
check "a price model is written" [ -n "$version" ]
card=$(cat "$SAO_HOME/models/AAPL/v$version/model.json")
check "its card says price" contains "$card" '"target": "price"'
check "its card records the scaling" contains "$card" '"target_scaler": {'
out=$("$SAO" evaluate AAPL --version "$version")
check "it is evaluated in prices" contains "$out" "persistence  all"

echo "$pass passed, $fails failed"
[ "$fails" -eq 0 ]
