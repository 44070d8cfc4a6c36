#!/bin/sh
# Training throughput, C against PyTorch, in one go: builds the library if needed, compiles
# bench_train.c against it, and for the anchor configuration (LSTM hidden 128, 3 layers) and the
# small one (hidden 64, 2 layers) at 1 and 2 threads runs the C bench (which also writes the
# prepared windows and its initial weights) and then bench_train_pytorch.py on those very
# windows and weights. Prints both JSON lines and a summary line per run: the ratio of training
# windows/s (C / PyTorch) and the final validation MSE difference in percent of PyTorch's.
#
#   bench/run_train.sh [build-dir] [--threads N] [--small] [--epochs E]
#
# --threads N runs only that thread count (default: 1 then 2); --small runs only the small
# configuration (default: anchor then small). Epochs default to 3 (SAO_BENCH_EPOCHS or --epochs
# overrides): a fixed count, no early stopping, so that the whole script stays within a few
# minutes. SAO_SHARED_DIR overrides ../shared.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-build}
threads_list="1 2"
configs="anchor small"
epochs=${SAO_BENCH_EPOCHS:-3}
while [ $# -gt 0 ]; do
    case $1 in
    --threads) threads_list=$2; shift 2 ;;
    --small) configs=small; shift ;;
    --epochs) epochs=$2; shift 2 ;;
    -*) echo "usage: $0 [build-dir] [--threads N] [--small] [--epochs E]" >&2; exit 2 ;;
    *) build=$1; shift ;;
    esac
done
case $build in /*) ;; *) build=$root/$build ;; esac
shared=${SAO_SHARED_DIR:-$root/../shared}
python=/usr/bin/python3 # Debian's, with python3-torch and numpy

if [ ! -f "$build/libsaocore.a" ]; then
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$build" --target saocore -j "$(nproc 2>/dev/null || echo 2)" >/dev/null

# The library's own flags (RelWithDebInfo: -O2), no -march: what the shipped binary gets.
bench_bin=$build/bench_train
# shellcheck disable=SC2046 # pkg-config's flags are meant to split
cc -std=c11 -O2 -Wall -Wextra -Werror -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE \
    -I"$root/src" "$root/bench/bench_train.c" "$build/libsaocore.a" \
    $(pkg-config --libs libcurl jansson libzstd hiredis yaml-0.1 openblas zlib libmicrohttpd) \
    -lsnappy -lm -lpthread -o "$bench_bin"

dump=$(mktemp -d)
trap 'rm -rf "$dump"' EXIT INT TERM

for config in $configs; do
    size_flag=""
    if [ "$config" = small ]; then size_flag=--small; fi
    for threads in $threads_list; do
        # Pinned to the first `threads` cores when taskset exists; every BLAS and OpenMP pool
        # gets the same count (the C bench also sets OpenBLAS's explicitly).
        pin=""
        if command -v taskset >/dev/null 2>&1; then pin="taskset -c 0-$((threads - 1))"; fi
        export OMP_NUM_THREADS="$threads" OPENBLAS_NUM_THREADS="$threads" MKL_NUM_THREADS="$threads"
        c_line=$($pin "$bench_bin" --threads "$threads" --epochs "$epochs" $size_flag \
            --dump "$dump" "$shared")
        echo "$c_line"
        # PyTorch runs two pools, libgomp's (intra-op) and OpenBLAS's own pthreads, and both
        # spin while idle: with 2 threads each on 2 cores they starve each other (measured: an
        # epoch 4-5x slower than on one thread). Passive OpenMP waiting is PyTorch at its best.
        py_line=$(OMP_WAIT_POLICY=passive $pin "$python" "$root/bench/bench_train_pytorch.py" \
            "$dump" --threads "$threads" --epochs "$epochs")
        echo "$py_line"
        "$python" - "$c_line" "$py_line" <<'EOF'
import json, sys
c, p = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(json.dumps({"bench": "train", "config": c["config"], "threads": c["threads"],
                  "epochs": c["epochs"],
                  "c_windows_per_s": c["windows_per_s"],
                  "pytorch_windows_per_s": p["windows_per_s"],
                  "speedup": round(c["windows_per_s"] / p["windows_per_s"], 2),
                  "val_mse": {"c": c["final_val_mse"], "pytorch": p["final_val_mse"]},
                  "val_mse_diff_pct": round(100.0 * (c["final_val_mse"] - p["final_val_mse"])
                                            / p["final_val_mse"], 2),
                  "peak_rss_kb": {"c": c["peak_rss_kb"], "pytorch": p["peak_rss_kb"]}}))
EOF
    done
done
