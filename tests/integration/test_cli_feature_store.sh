#!/usr/bin/env bash
# The feature store as a user drives it: sao apply, materialize, materialize-incremental and
# ingest --materialize against a real redis-server on a loopback port this test picks, with the
# online layout checked byte for byte, idempotence, and a Redis outage in the middle.
set -euo pipefail
SAO="${SAO_BIN:?}"
SRC="${SAO_SOURCE_DIR:?}"
SHARED="${SAO_SHARED_DIR:-${SAO_DEFAULT_SHARED_DIR:?}}"
OHLCV="$SHARED/data/ohlcv"
command -v redis-server >/dev/null || { echo "redis-server is not installed"; exit 1; }
work=$(mktemp -d)
redis_pid=""
stop_redis() { [ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null && wait "$redis_pid" 2>/dev/null; redis_pid=""; return 0; }
trap 'stop_redis; rm -rf "$work"' EXIT
port=""
for p in $(shuf -i 20000-40000 -n 50); do
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then port=$p; break; fi
done
start_redis() {
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$work" \
    --logfile "$work/redis.log" &
  redis_pid=$!
  for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && return 0; sleep 0.05; done
  echo "redis did not start"; exit 1
}
start_redis
export SAO_HOME="$work/home" SAO_LOG_FORMAT=text SAO_PROGRESS=off SAO_REDIS_CONNECTION="127.0.0.1:$port"
export SAO_FEATURE_REPO="$work/repo" SAO_REDIS_RETRIES=1
cp -r "$SRC/feature_store" "$work/repo"
rm -f "$work/repo/features.py"
pass=0 fails=0
check() { local name="$1"; shift; if "$@"; then pass=$((pass + 1)); else echo "FAIL: $name"; fails=$((fails + 1)); fi; }
contains() { grep -q -- "$2" <<<"$1"; }

"$SAO" ingest AAPL --file "$OHLCV/yahoo_daily_AAPL_1990-01-02_2024-09-12_johnvb21.csv" >/dev/null
"$SAO" ingest BTC-USD --file "$OHLCV/yahoo_daily_BTC-USD_2014-09-17_2023-11-16_trioxwater.csv" >/dev/null

# --- apply -----------------------------------------------------------------------------------
out=$("$SAO" apply)
check "apply creates the views" contains "$out" "Created FeatureView technical_daily"
check "apply creates the entity" contains "$out" "Created Entity ticker"
check "apply writes features.py" [ -s "$work/repo/features.py" ]
out=$("$SAO" apply)
check "second apply: no changes" contains "$out" "No changes to the registry"
cp "$SAO_HOME/registry.json" "$work/registry.before"
cp "$work/repo/features.py" "$work/features.before"
sed -i 's/rsi_14, dtype: Float64, params: "period=14"/rsi_15, dtype: Float64, params: "period=14"/' "$work/repo/features.yaml"
set +e
out=$("$SAO" apply 2>&1); rc=$?
set -e
check "bad definition fails" [ "$rc" -eq 1 ]
check "error names file and line" contains "$out" "features.yaml:[0-9]*: unknown indicator 'rsi_15'"
check "registry unchanged on error" cmp -s "$SAO_HOME/registry.json" "$work/registry.before"
check "features.py unchanged on error" cmp -s "$work/repo/features.py" "$work/features.before"
cp "$SRC/feature_store/features.yaml" "$work/repo/features.yaml"

# --- materialize -------------------------------------------------------------------------------
out=$("$SAO" materialize 2000-01-01 2024-09-12)
check "materialize writes every view of both tickers" contains "$out" "Materialized 3 views for 2 tickers: 6 entity rows written"
out=$("$SAO" materialize 2000-01-01 2024-09-12)
check "materialize is idempotent" contains "$out" "0 entity rows written, 6 already current"
check "registry records the interval" grep -q '"end_us": 1726099200000000' "$SAO_HOME/registry.json"

# Feast's layout, byte for byte, read with a raw RESP client (bash strings cannot hold NUL):
# key = v3 entity key + project, field = murmur3_x86_32("view:feature"), value =
# feast.types.Value, _ts:view = google.protobuf.Timestamp.
close=$("$SAO" export AAPL --from 2024-09-12 | tail -1 | cut -d, -f7)
layout=$(python3 - "$port" "$close" <<'PY'
import socket, struct, sys
port, close = int(sys.argv[1]), float(sys.argv[2])
def murmur3(data, seed=0):
    c1, c2, h, n = 0xcc9e2d51, 0x1b873593, seed, len(data) // 4
    rotl = lambda x, r: ((x << r) | (x >> (32 - r))) & 0xffffffff
    for i in range(n):
        k = int.from_bytes(data[4*i:4*i+4], 'little')
        k = rotl((k * c1) & 0xffffffff, 15) * c2 & 0xffffffff
        h = (rotl(h ^ k, 13) * 5 + 0xe6546b64) & 0xffffffff
    k = int.from_bytes(data[4*n:], 'little') if len(data) % 4 else 0
    if len(data) % 4:
        h ^= rotl((k * c1) & 0xffffffff, 15) * c2 & 0xffffffff
    h ^= len(data); h ^= h >> 16; h = h * 0x85ebca6b & 0xffffffff; h ^= h >> 13
    h = h * 0xc2b2ae35 & 0xffffffff; h ^= h >> 16
    return h.to_bytes(4, 'little')
s = socket.create_connection(('127.0.0.1', port)); f = s.makefile('rb')
def cmd(*args):
    s.sendall(b'*%d\r\n' % len(args) + b''.join(b'$%d\r\n%s\r\n' % (len(a), a) for a in args))
    line = f.readline()
    if line[:1] == b'$':
        n = int(line[1:]); return None if n < 0 else f.read(n + 2)[:-2]
    return int(line[1:]) if line[:1] == b':' else line
key = (b'\x01\x00\x00\x00' + b'\x02\x00\x00\x00' + struct.pack('<I', 6) + b'ticker'
       + struct.pack('<I', 2) + struct.pack('<I', 4) + b'AAPL' + b'stock_agent_ops')
print('exists', cmd(b'EXISTS', key))
print('ts', (cmd(b'HGET', key, b'_ts:ohlcv_daily') or b'').hex())
print('close_ok', cmd(b'HGET', key, murmur3(b'ohlcv_daily:close')) == b'\x29' + struct.pack('<d', close))
print('nvt_null', cmd(b'HGET', key, murmur3(b'technical_daily:nvt_proxy')) == b'')
print('fields', cmd(b'HLEN', key))
print('ttl_set', 0 < cmd(b'TTL', key) <= 1209600)
PY
)
check "entity key in Feast layout" contains "$layout" "exists 1"
# 2024-09-12T00:00:00Z = 1726099200 s -> Timestamp{seconds: 1726099200} = 08 80 de 88 b7 06
check "event time as google.protobuf.Timestamp" contains "$layout" "ts 0880de88b706"
check "close stored as feast.types.Value double" contains "$layout" "close_ok True"
check "crypto proxy of a stock is an empty Value" contains "$layout" "nvt_null True"
# 8 bar columns + 29 indicators + 8 windows + 3 _ts fields
check "one field per feature plus timestamps" contains "$layout" "fields 48"
check "key_ttl_seconds sets EXPIRE" contains "$layout" "ttl_set True"

# --- incremental, outage, rerun ----------------------------------------------------------------
out=$("$SAO" materialize-incremental 2024-09-20)
check "incremental resumes at the last interval" contains "$out" "0 entity rows written"
"$SAO" ingest SPY --file "$OHLCV/yahoo_daily_SPY_1993-01-29_2024-09-12_johnvb21.csv" >/dev/null
stop_redis
cp "$SAO_HOME/registry.json" "$work/registry.before"
set +e
out=$("$SAO" materialize 2024-01-01 2024-09-12 2>&1); rc=$?
set -e
check "materialize fails while Redis is down" [ "$rc" -eq 1 ]
check "the failure names Redis" contains "$out" "127.0.0.1:$port"
check "no interval recorded for a failed write" cmp -s "$SAO_HOME/registry.json" "$work/registry.before"
start_redis
out=$("$SAO" materialize 2024-01-01 2024-09-12)
# BTC-USD (to 2023-11-16) has no rows in 2024: 2 tickers x 3 views.
check "rerun completes after Redis is back" contains "$out" "for 3 tickers: 6 entity rows written"
out=$("$SAO" ingest SPY --file "$OHLCV/yahoo_daily_SPY_1993-01-29_2024-09-12_johnvb21.csv" --materialize)
check "ingest --materialize runs incremental" contains "$out" "materialized 3 views"

echo "$pass passed, $fails failed"
[ "$fails" -eq 0 ]
