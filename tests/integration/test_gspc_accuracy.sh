#!/usr/bin/env bash
# The accuracy bound the forecaster is held to: the default configuration (`sao train` with no
# options: LSTM 2 x 64, context 60, horizon 5, up to 50 epochs with early stopping) trained on
# ^GSPC's daily bars 1990-2024 must reach a test-split MAE of at most 1.1 times persistence's
# ("tomorrow's close is today's"), the baseline a daily price forecaster rarely beats by much.
# Prints the measured ratio either way. Trains a real model: labelled slow.
set -euo pipefail
SAO="${SAO_BIN:?}"
SHARED="${SAO_SHARED_DIR:-${SAO_DEFAULT_SHARED_DIR:?}}"
CSV="$SHARED/data/ohlcv/yahoo_daily_GSPC_1990-01-02_2024-09-12_johnvb21.csv"
BOUND=1.1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export SAO_HOME="$work/home" SAO_LOG_FORMAT=text SAO_PROGRESS=off

"$SAO" ingest ^GSPC --file "$CSV" >/dev/null
started=$(date +%s)
out=$("$SAO" train ^GSPC)
seconds=$(($(date +%s) - started))
# sao_eval_result_print's verdict: "model MAE is 1.013x persistence's: ..."
ratio=$(sed -nE "s/^model MAE is ([0-9.]+)x persistence's.*/\1/p" <<<"$out")
epochs=$(sed -nE 's/.*"epochs_run": ([0-9]+).*/\1/p' "$SAO_HOME/models/^GSPC/v1/model.json")
if [ -z "$ratio" ]; then
  echo "FAIL: no verdict in the output of 'sao train ^GSPC':" >&2
  echo "$out" >&2
  exit 1
fi
echo "^GSPC default model: test-split MAE ${ratio}x persistence's (bound ${BOUND}x);" \
  "${epochs:-?} epochs, ${seconds}s"
if awk -v r="$ratio" -v b="$BOUND" 'BEGIN { exit !(r <= b) }'; then
  echo "ok"
else
  echo "FAIL: ${ratio}x is above the ${BOUND}x bound" >&2
  exit 1
fi
