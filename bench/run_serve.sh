#!/usr/bin/env bash
# Serving benchmark, `sao serve` against FastAPI + uvicorn + PyTorch (bench/serve_peer.py) on the
# same model and data, in one go. Builds nothing: it takes a build folder holding `sao`.
#
#   bench/run_serve.sh [BUILD_DIR] [--duration S] [--connections N] [--out FILE]
#
# In a throwaway SAO_HOME with a private redis-server (a free loopback port for the set-up, its
# Unix socket for both servers, as under `sao up`): ingests ^GSPC and
# AAPL from the shared CSV files, applies the feature repository, materializes as of the last
# bar, trains an AAPL model (LSTM 2x64, 2 epochs: accuracy is not measured), exports the rows for
# the peer, and starts both servers. Checks once that both forecast the same closes (1e-4
# relative) and serve the same history rows, then runs `wrk -t2 -c32 -d10s --latency` per route
# and side after a warm-up:
#
#   predict, cache off   GET /api/v1/predict/AAPL?cache=false   (window read + forward pass)
#   predict, cache on    GET /api/v1/predict/AAPL               (window read + cached forecast)
#   history              GET /api/v1/tickers/AAPL/history?from=..&to=..   (the last year)
#
# and prints requests/s, p50/p99 latency, non-2xx responses (any fails the run) and the peak RSS
# of each server (VmHWM; summed over the uvicorn processes), a table with the ratios, and one
# JSON line. --out FILE writes the same text to FILE. Both sides get the machine's cores: `sao
# serve` its default pool (one thread per CPU), uvicorn one worker per CPU with one torch thread
# each; wrk runs on the same cores. SAO_SHARED_DIR overrides ../shared.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=build
duration=10
connections=32
out=""
while [ $# -gt 0 ]; do
    case $1 in
    --duration) duration=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -*) echo "usage: $0 [BUILD_DIR] [--duration S] [--connections N] [--out FILE]" >&2; exit 2 ;;
    *) build=$1; shift ;;
    esac
done
# A relative BUILD_DIR is taken from the current folder, else from the repository root.
case $build in
/*) ;;
*) if [ -d "$build" ]; then build=$(cd "$build" && pwd); else build=$root/$build; fi ;;
esac
shared=${SAO_SHARED_DIR:-$root/../shared}
python=/usr/bin/python3 # Debian's, with python3-fastapi, -uvicorn, -torch, -redis and -pandas
sao=$build/sao
cores=$(getconf _NPROCESSORS_ONLN)

fail() {
    echo "run_serve: $*" >&2
    exit 1
}
[ -x "$sao" ] || fail "$sao not found (build it: cmake --build $build --target sao)"
for tool in redis-server redis-cli wrk curl; do
    command -v "$tool" >/dev/null || fail "$tool not found"
done
"$python" -c 'import fastapi, uvicorn, torch, redis, pandas' 2>/dev/null ||
    fail "$python lacks fastapi, uvicorn, torch, redis or pandas (Debian: python3-fastapi ...)"
# The full daily series of both (1990 to 2024).
aapl_csv=$(compgen -G "$shared/data/ohlcv/yahoo_daily_AAPL_*_johnvb21.csv" | head -1 || true)
gspc_csv=$(compgen -G "$shared/data/ohlcv/yahoo_daily_GSPC_*_johnvb21.csv" | head -1 || true)
if [ -z "$aapl_csv" ] || [ -z "$gspc_csv" ]; then
    fail "no AAPL or GSPC series in $shared/data/ohlcv"
fi

start_load=$(cut -d' ' -f1-3 /proc/loadavg) # other work on the machine, before ours
work=$(mktemp -d)
redis_pid="" sao_pid="" peer_pid="" peer_workers=""
cleanup() {
    # The uvicorn supervisor stops its workers; any it leaves are stopped after it.
    for pid in $peer_pid $sao_pid $redis_pid; do
        kill "$pid" 2>/dev/null || true
    done
    if [ -n "$peer_pid" ]; then wait "$peer_pid" 2>/dev/null || true; fi
    for pid in $peer_workers; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in $peer_pid $sao_pid $redis_pid; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A loopback port nobody listens on.
free_port() {
    for candidate in $(shuf -i 20000-40000 -n 100); do
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$candidate") 2>/dev/null; then
            echo "$candidate"
            return
        fi
    done
    fail "no free port"
}

# Waits until URL answers 200 (at most `tries` tenths of a second).
wait_http() {
    local url=$1 tries=$2
    for _ in $(seq "$tries"); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' "$url")" = 200 ] && return 0
        sleep 0.1
    done
    return 1
}

# ---- the data, the model and the servers ----

redis_port=$(free_port)
# Both servers reach it through its Unix socket, as `sao up` does (setup commands use TCP).
redis_socket="$work/redis.sock"
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --dir "$work" \
    --logfile "$work/redis.log" --unixsocket "$redis_socket" --unixsocketperm 700 &
redis_pid=$!
for _ in $(seq 100); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.05; done

# A copy of the feature repository, so that `sao apply` writes its features.py there.
cp -r "$root/feature_store" "$work/feature_store"
rm -f "$work/feature_store/features.py"
export SAO_HOME="$work/home" SAO_FEATURE_REPO="$work/feature_store" \
    SAO_REDIS_CONNECTION="127.0.0.1:$redis_port" SAO_PROGRESS=off SAO_LOG_LEVEL=warn

"$sao" ingest '^GSPC' --file "$gspc_csv" >"$work/setup.log" 2>&1 || fail "ingest ^GSPC failed"
"$sao" ingest AAPL --file "$aapl_csv" >>"$work/setup.log" 2>&1 || fail "ingest AAPL failed"
"$sao" apply >>"$work/setup.log" 2>&1 || fail "sao apply failed"
# The series end in the past, and with no earlier interval materialize-incremental starts at END
# minus the view's ttl: END is the day of the last bar, the "today" of this data.
as_of=$(tail -n 1 "$aapl_csv" | cut -d, -f1)
"$sao" materialize-incremental "$as_of" >>"$work/setup.log" 2>&1 ||
    fail "sao materialize-incremental failed"
"$sao" train AAPL --epochs 2 >>"$work/setup.log" 2>&1 || fail "sao train failed"
mkdir "$work/export"
for ticker in AAPL '^GSPC'; do
    "$sao" export "$ticker" --format csv >"$work/export/$ticker.csv" || fail "sao export failed"
done
history_query="from=$(date -u -d "$as_of - 1 year + 1 day" +%F)&to=$as_of"

sao_port=$(free_port)
SAO_REDIS_CONNECTION="unix:$redis_socket" SAO_API_ACCESS_LOG=0 "$sao" serve --host 127.0.0.1 --port "$sao_port" >"$work/sao.log" 2>&1 &
sao_pid=$!
peer_port=$(free_port)
mkdir "$work/ready"
# One worker per core, one torch (and BLAS) thread per worker; no access log, as for sao.
OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 SAO_PEER_EXPORT_DIR="$work/export" \
    SAO_PEER_READY_DIR="$work/ready" SAO_REDIS_CONNECTION="unix:$redis_socket" \
    "$python" -m uvicorn serve_peer:app --app-dir "$root/bench" --workers "$cores" \
    --host 127.0.0.1 --port "$peer_port" --no-access-log --log-level warning \
    >"$work/peer.log" 2>&1 &
peer_pid=$!

sao_url="http://127.0.0.1:$sao_port"
peer_url="http://127.0.0.1:$peer_port"
wait_http "$sao_url/api/v1/predict/AAPL?cache=false" 100 || {
    cat "$work/sao.log" >&2
    fail "sao serve did not answer"
}
# Every worker, not just the first, before anything is measured.
for _ in $(seq 600); do
    peer_workers=$(ls "$work/ready")
    [ "$(wc -w <<<"$peer_workers")" -ge "$cores" ] && break
    sleep 0.1
done
[ "$(wc -w <<<"$peer_workers")" -ge "$cores" ] || {
    cat "$work/peer.log" >&2
    fail "the peer's workers did not start"
}

# ---- the same answers ----

for side in sao peer; do
    url=$sao_url
    [ $side = peer ] && url=$peer_url
    curl -sf "$url/api/v1/predict/AAPL?cache=false" >"$work/predict_$side.json"
    curl -sf "$url/api/v1/tickers/AAPL/history?$history_query" >"$work/history_$side.json"
    curl -sf "$url/api/v1/predict/AAPL" >/dev/null # fills the cache
    curl -sf "$url/api/v1/predict/AAPL" >"$work/cached_$side.json"
done
"$python" - "$work" <<'EOF' || fail "the two servers disagree"
import json, math, sys
work = sys.argv[1]
load = lambda name: json.load(open("%s/%s.json" % (work, name)))
ours, peer = load("predict_sao"), load("predict_peer")
ok = ours["as_of"] == peer["as_of"] and len(ours["predictions"]) == len(peer["predictions"])
print("as of %s, AAPL v%d: predicted closes (sao / peer)" % (ours["as_of"], ours["model"]["version"]))
for a, b in zip(ours["predictions"], peer["predictions"]):
    rel = abs(a["close"] - b["close"]) / abs(a["close"])
    ok &= a["date"] == b["date"] and rel <= 1e-4
    print("  %s  %.6f  %.6f  (relative difference %.1e)" % (a["date"], a["close"], b["close"], rel))
hits = all(load("cached_" + side)["cached"] is True and
           load("cached_" + side)["predictions"] == load("predict_" + side)["predictions"]
           for side in ("sao", "peer"))
ok &= hits
print("cache on: a repeated request is a hit with the same closes: %s" % ("yes" if hits else "NO"))
ours, peer = load("history_sao"), load("history_peer")
same = ours["fields"] == peer["fields"] and ours["count"] == peer["count"]
for a, b in zip(ours["rows"], peer["rows"]):
    for name, value in a.items():
        other = b.get(name)
        if value is None or isinstance(value, str):
            same &= value == other
        else:
            same &= other is not None and math.isclose(value, other, rel_tol=1e-12, abs_tol=0)
print("history %s..%s: %d rows x %d fields (sao), %d rows x %d fields (peer), values %s"
      % (ours["from"], ours["to"], ours["count"], len(ours["fields"]), peer["count"],
         len(peer["fields"]), "equal" if same else "DIFFER"))
sys.exit(0 if ok and same else 1)
EOF

# ---- the runs ----

routes=("predict_cache_off:/api/v1/predict/AAPL?cache=false"
        "predict_cache_on:/api/v1/predict/AAPL"
        "history:/api/v1/tickers/AAPL/history?$history_query")
: >"$work/runs.tsv"
for entry in "${routes[@]}"; do
    route=${entry%%:*}
    path=${entry#*:}
    for side in sao peer; do
        url=$sao_url
        [ $side = peer ] && url=$peer_url
        wrk -t2 -c"$connections" -d3s "$url$path" >/dev/null # warm-up (and a filled cache)
        load=$(cut -d' ' -f1 /proc/loadavg)
        wrk -t2 -c"$connections" -d"${duration}s" --latency "$url$path" >"$work/wrk_${route}_$side.txt"
        printf '%s\t%s\t%s\t%s\n' "$route" "$side" "$load" "$work/wrk_${route}_$side.txt" \
            >>"$work/runs.tsv"
    done
done

# Peak RSS (kB, VmHWM) of a process and of each of its descendants, one number per process: the
# uvicorn supervisor, its helper and its workers.
peak_rss_kb() {
    local pid children
    for pid in $1; do
        awk '/^VmHWM:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true
        children=$(ps -o pid= --ppid "$pid" | tr '\n' ' ' || true)
        [ -z "${children// /}" ] || peak_rss_kb "$children"
    done
}
sao_rss=$(peak_rss_kb "$sao_pid" | tr '\n' ' ')
peer_rss=$(peak_rss_kb "$peer_pid" | tr '\n' ' ')

"$python" - "$work/runs.tsv" "$sao_rss" "$peer_rss" "$cores" "$connections" "$duration" \
    "$start_load" "$out" <<'EOF'
import json, re, sys

runs_path, sao_rss, peer_rss, cores, connections, duration, start_load, out = sys.argv[1:]
sao_rss, peer_rss = [int(v) for v in sao_rss.split()], [int(v) for v in peer_rss.split()]
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}

def millis(text):
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(number) * UNITS[unit]

def parse(path):
    text = open(path).read()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    pct = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", text, re.M))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    return {"rps": rps, "p50_ms": millis(pct["50"]), "p99_ms": millis(pct["99"]),
            "non2xx": int(non2xx.group(1)) if non2xx else 0,
            "socket_errors": sum(map(int, errors.groups())) if errors else 0}

results = {}
for line in open(runs_path):
    route, side, load, path = line.rstrip("\n").split("\t")
    results.setdefault(route, {})[side] = dict(parse(path), load=float(load))

lines = ["serving: sao serve (%s request threads) vs FastAPI 0.92 + uvicorn 0.17 (h11, asyncio; "
         "--workers %s) + PyTorch (1 thread per worker)" % (cores, cores),
         "wrk -t2 -c%s -d%ss --latency after a 3 s warm-up, on the same %s cores; load average "
         "%s before the bench (load: the 1-minute average before each run)"
         % (connections, duration, cores, start_load),
         "history: the peer serves rows loaded into memory at start-up (CSV from `sao export`), "
         "sao decodes the Parquet files once per file version (a column cache checked with stat per request) "
         "and keeps its last 4 answers per ticker with them, so a repeated query is sent without "
         "being written again",
         "both servers read Redis through its Unix socket", ""]
header = "%-18s %-5s %10s %9s %9s %8s %7s %6s" % ("route", "side", "req/s", "p50 ms", "p99 ms",
                                                   "non-2xx", "errors", "load")
lines += [header, "-" * len(header)]
for route, sides in results.items():
    for side in ("sao", "peer"):
        r = sides[side]
        lines.append("%-18s %-5s %10.0f %9.2f %9.2f %8d %7d %6.2f" % (
            route, side, r["rps"], r["p50_ms"], r["p99_ms"], r["non2xx"], r["socket_errors"],
            r["load"]))
    s, p = sides["sao"], sides["peer"]
    lines.append("%-18s %-5s %9.1fx %8.1fx %8.1fx" % (route, "ratio", s["rps"] / p["rps"],
                                                      p["p50_ms"] / s["p50_ms"],
                                                      p["p99_ms"] / s["p99_ms"]))
lines.append("")
lines.append("peak RSS: sao serve %.1f MB, peer %.1f MB (%d processes, the largest %.1f MB), "
             "ratio %.1fx" % (sum(sao_rss) / 1024, sum(peer_rss) / 1024, len(peer_rss),
                              max(peer_rss) / 1024, sum(peer_rss) / max(sum(sao_rss), 1)))
off = results["predict_cache_off"]
checks = [("req/s with the cache off >= 20x the peer's",
           off["sao"]["rps"] / off["peer"]["rps"] >= 20),
          ("p99 < 5 ms at %s connections (every route)" % connections,
           all(r["sao"]["p99_ms"] < 5 for r in results.values())),
          ("peak RSS of sao serve < 50 MB", sum(sao_rss) < 50 * 1024)]
lines += ["target: %-45s %s" % (name, "met" if met else "MISSED") for name, met in checks]
summary = {"bench": "serve", "connections": int(connections), "duration_s": int(duration),
           "routes": results, "peak_rss_kb": {"sao": sum(sao_rss), "peer": sum(peer_rss)},
           "speedup": {route: round(s["sao"]["rps"] / s["peer"]["rps"], 1)
                       for route, s in results.items()}}
text = "\n".join(lines + ["", json.dumps(summary)]) + "\n"
sys.stdout.write(text)
if out:
    with open(out, "w") as f:
        f.write(text)
bad = [(route, side) for route, sides in results.items() for side, r in sides.items()
       if r["non2xx"]]
if bad:
    sys.exit("run_serve: non-2xx responses in %s" % ", ".join("%s/%s" % b for b in bad))
EOF
