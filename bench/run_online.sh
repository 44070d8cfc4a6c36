#!/usr/bin/env bash
# Online-store benchmark: builds bench_online against the library of a build folder, starts a
# throwaway redis-server on a free loopback port, runs the benchmark, stops the server.
# usage: bench/run_online.sh [BUILD_DIR] [ENTITIES] [READS]
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
build="$(cd "${1:-$here/build}" 2>/dev/null && pwd || echo "${1:-$here/build}")"
entities="${2:-10000}"
reads="${3:-10000}"

if [ ! -f "$build/libsaocore.a" ]; then
  cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$build" --target saocore -j "$(nproc 2>/dev/null || echo 2)" >/dev/null
fi
command -v redis-server >/dev/null || { echo "run_online: redis-server not found" >&2; exit 1; }

cc -std=c11 -O2 -Wall -Wextra -Werror -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE \
  -I "$here/src" "$here/bench/bench_online.c" "$build/libsaocore.a" \
  $(pkg-config --libs libcurl jansson libzstd hiredis) -lsnappy -lm -lpthread \
  -o "$build/bench_online"

# A port nobody listens on.
port=""
for candidate in $(seq 16379 16479); do
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$candidate") 2>/dev/null; then
    port=$candidate
    break
  fi
done
[ -n "$port" ] || { echo "run_online: no free port" >&2; exit 1; }

work="$(mktemp -d)"
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$work" \
  >"$work/redis.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 200); do
  redis-cli -p "$port" ping >/dev/null 2>&1 && break
  sleep 0.05
done

echo "redis-server $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p'), $(nproc) cores"
"$build/bench_online" "$port" "$entities" "$reads"
