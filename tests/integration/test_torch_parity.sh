#!/usr/bin/env bash
# Numerical parity of the model module with PyTorch. For each configuration, sao_model_tool saves
# a seeded model as safetensors and records an eval-mode forward and a backward; torch_parity.py
# loads the same file into torch.nn.LSTM / nn.GRU + nn.Linear and must reproduce the outputs and
# every parameter gradient (tolerances and their reasons are in the script).
#
# PyTorch comes from Debian's python3-torch, hence /usr/bin/python3 rather than whatever python3
# is first on PATH. Exit 77 (skip) when it cannot import torch.
set -euo pipefail

SKIP=77
: "${SAO_BUILD_DIR:?set by CTest}"
: "${SAO_SOURCE_DIR:?set by CTest}"
tool=${SAO_MODEL_TOOL:-$SAO_BUILD_DIR/tests/integration/sao_model_tool}
script=$SAO_SOURCE_DIR/tests/integration/torch_parity.py
python=/usr/bin/python3

if [[ ! -x $tool ]]; then
    echo "FAIL: $tool is not built" >&2
    exit 1
fi
if [[ ! -x $python ]]; then
    echo "SKIP: python3-torch is not installed: $python does not exist" >&2
    exit $SKIP
fi
if ! why=$("$python" -c 'import torch' 2>&1); then
    echo "SKIP: python3-torch is not installed: $(printf '%s\n' "$why" | tail -n 1)" >&2
    exit $SKIP
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/sao-torch-parity.XXXXXX")
trap 'rm -rf "$work"' EXIT
failures=0

# arch layers hidden: both architectures, shallow and deep, narrow and wide. The other sizes are
# the forecaster's usual ones: 7 features, a 60-step window, a 5-step horizon, a batch of 4.
configs=(
    "lstm 1 8" "lstm 1 64" "lstm 3 8" "lstm 3 64"
    "gru 1 8" "gru 1 64" "gru 3 8" "gru 3 64"
)
seed=11
for config in "${configs[@]}"; do
    read -r arch layers hidden <<<"$config"
    label="$arch layers=$layers hidden=$hidden"
    dir=$work/$arch-$layers-$hidden
    mkdir -p "$dir"
    seed=$((seed + 1))
    if ! "$tool" "$dir" --arch "$arch" --input-size 7 --hidden-size "$hidden" \
        --num-layers "$layers" --horizon 5 --seed "$seed" --batch 4 --time-steps 60; then
        echo "FAIL $label: sao_model_tool failed" >&2
        failures=$((failures + 1))
        continue
    fi
    echo "# $label"
    if ! "$python" "$script" "$dir" 4 60; then
        echo "FAIL $label: differs from PyTorch" >&2
        failures=$((failures + 1))
    fi
done

if ((failures)); then
    echo "$failures configuration(s) differ from PyTorch" >&2
    exit 1
fi
echo "all ${#configs[@]} configurations match PyTorch"
