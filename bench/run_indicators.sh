#!/bin/sh
# Indicator throughput, C against pandas, in one go: builds the library if needed, compiles
# bench_indicators.c against it, runs both benchmarks on one core over the same real series and
# prints their JSON lines and the ratio of rows/s.
#
#   bench/run_indicators.sh [build-dir]     (default: build; SAO_SHARED_DIR overrides ../shared)
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-${BUILD_DIR:-build}}
case $build in /*) ;; *) build=$root/$build ;; esac
shared=${SAO_SHARED_DIR:-$root/../shared}
python=/usr/bin/python3 # Debian's, with python3-pandas

if [ ! -f "$build/libsaocore.a" ]; then
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$build" --target saocore -j "$(nproc 2>/dev/null || echo 2)" >/dev/null

# The library's own flags (RelWithDebInfo: -O2), no -march: what the shipped binary gets.
bench_bin=$build/bench_indicators
cc -std=c11 -O2 -Wall -Wextra -Werror -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE \
    -I"$root/src" "$root/bench/bench_indicators.c" "$build/libsaocore.a" \
    $(pkg-config --libs libcurl jansson libzstd) -lsnappy -lm -lpthread -o "$bench_bin"

# One core for both: pinned when taskset exists, and no helper threads in numpy's libraries.
pin=""
if command -v taskset >/dev/null 2>&1; then pin="taskset -c 0"; fi
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1

c_line=$($pin "$bench_bin" "$shared")
echo "$c_line"
py_line=$($pin "$python" "$root/bench/bench_indicators_pandas.py" "$shared")
echo "$py_line"
"$python" - "$c_line" "$py_line" <<'EOF'
import json, sys
c, p = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(json.dumps({"bench": "indicators", "c_rows_per_s": c["rows_per_s"],
                  "pandas_rows_per_s": p["rows_per_s"],
                  "speedup": round(c["rows_per_s"] / p["rows_per_s"], 1),
                  "peak_rss_kb": {"c": c["peak_rss_kb"], "pandas": p["peak_rss_kb"]}}))
EOF
