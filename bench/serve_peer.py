"""The peer of `sao serve` in bench/run_serve.sh: the same forecasts and history served by
FastAPI + uvicorn + PyTorch, doing the work `sao serve` does per request.

  GET /api/v1/predict/{ticker}[?cache=false]
      One HMGET of the ticker's model_window row in Feast's Redis layout (with a GET of the
      cached forecast pipelined behind it when the cache is on), the 7 model inputs computed as
      the training pipeline computes them, scaled with model.json's scaler, a forward pass of
      nn.LSTM (or nn.GRU) + nn.Linear under torch.inference_mode with the weights of
      model.safetensors, returns turned into prices and weekday dates. The cache mirrors ours:
      one key per ticker holding "version as-of-time horizon last-close closes...", used only
      when its version serves and its bar is the window's; the peer keeps its own keys.
  GET /api/v1/tickers/{ticker}/history[?from=&to=&limit=&fields=]
      Bars and indicators of a ticker from rows loaded at start-up (`sao export` CSV files: the
      peer has no Parquet reader), filtered by date per request: this favours the peer, which
      never touches a file while serving.

Both answer the JSON of `sao serve`. Settings come from the environment, so that
`uvicorn --workers N` hands them to every worker:

  SAO_HOME              registry.json (project, feature views) and models/<TICKER>/
  SAO_REDIS_CONNECTION  host:port of the online store, or unix:/path of its socket
  SAO_PEER_EXPORT_DIR   folder of <TICKER>.csv files written by `sao export TICKER --format csv`
  SAO_PREDICT_CACHE     0 turns the prediction cache off, as for `sao serve`
  SAO_PEER_READY_DIR    when set, each worker creates a file named by its pid there once ready

`python3 serve_peer.py TICKER` prints one forecast (cache bypassed) without serving.
"""
import datetime
import json
import math
import os
import struct
import sys
import threading
import time
import uuid

import numpy as np
import pandas as pd
import redis
import torch
from fastapi import FastAPI, Query
from fastapi.responses import JSONResponse, Response
from torch import nn

WINDOW_VIEW = "model_window"
RELOAD_CHECK_S = 0.2  # registry.json is stat()ed at most this often per ticker, as ours does
CACHE_MAGIC = "sao-forecast-1"
CACHE_TTL_S = 7 * 24 * 3600
HISTORY_DEFAULT_LIMIT = 1000
HISTORY_MAX_LIMIT = 10000
# The raw columns of the window the inputs are computed from, by source view and feature.
RAW_SOURCES = (("ohlcv_daily", "close"), ("ohlcv_daily", "volume"),
               ("technical_daily", "log_return_1d"), ("technical_daily", "rsi_14"),
               ("technical_daily", "macd_hist"), ("technical_daily", "bb_pct_b"),
               ("technical_daily", "volatility_20"), ("technical_daily", "atr_14"))
INPUT_NAMES = ("log_return_1d", "log_volume_change", "rsi_14_scaled", "macd_hist_rel", "bb_pct_b",
               "volatility_20", "atr_14_rel")
CRYPTO_QUOTES = ("USD", "USDT", "USDC", "BUSD", "DAI", "EUR", "GBP", "JPY", "CAD", "AUD", "CHF",
                 "KRW", "INR", "BTC", "ETH", "BNB")
EPOCH = datetime.date(1970, 1, 1)

torch.set_num_threads(1)


# ---- Feast's Redis layout ----

def murmur3_x86_32(data, seed=0):
    """MurmurHash3 x86_32 of bytes."""
    c1, c2, mask = 0xcc9e2d51, 0x1b873593, 0xffffffff

    def rotl(x, r):
        return ((x << r) | (x >> (32 - r))) & mask

    def mix(k):
        return (rotl((k * c1) & mask, 15) * c2) & mask

    h = seed
    blocks = len(data) // 4
    for i in range(blocks):
        (k,) = struct.unpack_from("<I", data, 4 * i)
        h = rotl(h ^ mix(k), 13)
        h = (h * 5 + 0xe6546b64) & mask
    tail = data[4 * blocks:]
    k = 0
    for i in reversed(range(len(tail))):
        k = (k << 8) | tail[i]
    if tail:
        h ^= mix(k)
    h ^= len(data) & mask
    h ^= h >> 16
    h = (h * 0x85ebca6b) & mask
    h ^= h >> 13
    h = (h * 0xc2b2ae35) & mask
    h ^= h >> 16
    return h


def feast_redis_key(project, join_key, entity):
    """Serialized entity key (version 3, one string join key) followed by the project."""
    name, value = join_key.encode(), entity.encode()
    return (struct.pack("<III", 1, 2, len(name)) + name + struct.pack("<II", 2, len(value)) +
            value + project.encode())


def feast_field(view, feature):
    """The 4-byte hash field of "view:feature" (little-endian)."""
    return struct.pack("<I", murmur3_x86_32(("%s:%s" % (view, feature)).encode()))


def read_varint(buf, pos):
    value, shift = 0, 0
    while True:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7f) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def decode_double_list(buf):
    """The doubles of a feast.types.Value holding double_list_val (field 15), or None."""
    if not buf or buf[0] != 0x7a:
        return None
    length, pos = read_varint(buf, 1)
    end = pos + length
    if end != len(buf):
        raise ValueError("double list of %d bytes in a value of %d" % (length, len(buf)))
    if pos == end:
        return np.empty(0)
    if buf[pos] == 0x0a:  # packed: one length-delimited run of fixed64
        count, pos = read_varint(buf, pos + 1)
        if pos + count != end or count % 8:
            raise ValueError("malformed packed double list")
        return np.frombuffer(buf, dtype="<f8", count=count // 8, offset=pos)
    values = []
    while pos < end:  # unpacked: a tag before every value
        if buf[pos] != 0x09:
            raise ValueError("unexpected field in a double list")
        values.append(struct.unpack_from("<d", buf, pos + 1)[0])
        pos += 9
    return np.array(values)


def decode_timestamp_us(buf):
    """Microseconds of a google.protobuf.Timestamp."""
    seconds, nanos, pos = 0, 0, 0
    while pos < len(buf):
        tag, pos = read_varint(buf, pos)
        value, pos = read_varint(buf, pos)
        if tag == 0x08:
            seconds = value - (1 << 64) if value >= 1 << 63 else value
        elif tag == 0x10:
            nanos = value
        else:
            raise ValueError("unexpected field %d in a timestamp" % (tag >> 3))
    return seconds * 1000000 + nanos // 1000


# ---- tickers and calendars ----

def normalize_ticker(ticker):
    name = ticker.strip().upper()
    if not name or len(name) > 32 or not all(c.isalnum() or c in "^.-=_" for c in name):
        return None
    return name


def asset_class(ticker):
    if ticker.startswith("^"):
        return "index"
    if ticker.endswith("=X"):
        return "fx"
    if ticker.endswith("=F"):
        return "future"
    base, dash, quote = ticker.partition("-")
    if dash and 2 <= len(base) <= 10 and base.isalnum() and quote in CRYPTO_QUOTES:
        return "crypto"
    return "equity"


def day_text(day):
    return (EPOCH + datetime.timedelta(days=int(day))).isoformat()


def trading_days(cls, as_of_day, horizon):
    """The next `horizon` trading days after as_of_day: weekdays, or every day for crypto."""
    if cls == "crypto":
        return [as_of_day + k for k in range(1, horizon + 1)]
    start = np.datetime64(int(as_of_day), "D")
    return [int(d) for d in np.busday_offset(start, np.arange(1, horizon + 1), roll="backward")
            .astype("datetime64[D]").astype(np.int64)]


# ---- models ----

def read_safetensors(path):
    """(metadata, {name: float32 tensor}) of a safetensors file: an 8-byte little-endian header
    length, a JSON header, then the tensors (F32 only)."""
    with open(path, "rb") as f:
        blob = f.read()
    (header_len,) = struct.unpack_from("<Q", blob, 0)
    header = json.loads(blob[8:8 + header_len].decode("utf-8"))
    metadata = header.pop("__metadata__", {})
    tensors = {}
    for name, entry in header.items():
        if entry["dtype"] != "F32":
            raise ValueError("%s: %s is %s, expected F32" % (path, name, entry["dtype"]))
        begin, end = entry["data_offsets"]
        values = np.frombuffer(blob, dtype="<f4", count=(end - begin) // 4,
                               offset=8 + header_len + begin)
        tensors[name] = torch.from_numpy(values.copy()).reshape(entry["shape"])
    return metadata, tensors


class Forecaster(nn.Module):
    """A recurrent stack and a linear head on the last step; the attribute names give the
    state_dict names of our safetensors (lstm.* or gru.*, head.*)."""

    def __init__(self, arch, input_size, hidden_size, num_layers, horizon):
        super().__init__()
        self.arch = arch
        rnn = nn.LSTM if arch == "lstm" else nn.GRU
        setattr(self, arch, rnn(input_size, hidden_size, num_layers=num_layers, batch_first=True))
        self.head = nn.Linear(hidden_size, horizon)

    def forward(self, inputs):
        sequence, _ = getattr(self, self.arch)(inputs)
        return self.head(sequence[:, -1, :])


class Model:
    """One loaded version: the card's numbers the request needs and the module."""

    def __init__(self, model_dir):
        with open(os.path.join(model_dir, "model.json")) as f:
            card = json.load(f)
        arch = card["architecture"]
        if [i["name"] for i in card["inputs"]] != list(INPUT_NAMES) or card["target"] != "return":
            raise ValueError("%s: not the default inputs with return targets" % model_dir)
        self.version = card["version"]
        self.arch = arch["arch"]
        self.parent = card.get("parent")
        self.context = card["context_length"]
        self.horizon = arch["horizon"]
        self.center = np.array([i["scaler"]["center"] for i in card["inputs"]])
        self.scale = np.array([i["scaler"]["scale"] for i in card["inputs"]])
        metrics = card.get("metrics")
        self.drift_return = metrics["drift_return"] if metrics else None
        self.module = Forecaster(self.arch, arch["input_size"], arch["hidden_size"],
                                 arch["num_layers"], self.horizon)
        _, tensors = read_safetensors(os.path.join(model_dir, "model.safetensors"))
        self.module.load_state_dict(tensors)
        self.module.eval()

    def forward(self, inputs):
        with torch.inference_mode():
            return self.module(torch.from_numpy(inputs).unsqueeze(0))[0].double().numpy()


class ModelSlots:
    """The serving version of each ticker, reloaded when its registry.json changes."""

    def __init__(self, home):
        self.home = home
        self.lock = threading.Lock()
        self.slots = {}  # ticker -> [model, registry signature, monotonic time of the check]

    def get(self, ticker):
        now = time.monotonic()
        slot = self.slots.get(ticker)
        if slot and now - slot[2] < RELOAD_CHECK_S:
            return slot[0]
        with self.lock:
            slot = self.slots.get(ticker)
            if slot and now - slot[2] < RELOAD_CHECK_S:
                return slot[0]
            path = os.path.join(self.home, "models", ticker, "registry.json")
            try:
                st = os.stat(path)
            except FileNotFoundError:
                return None
            sig = (st.st_mtime_ns, st.st_size, st.st_ino)
            model = slot[0] if slot and slot[1] == sig else None
            if model is None:
                with open(path) as f:
                    serving = json.load(f)["serving"]
                if not serving:
                    return None
                if slot and slot[0].version == serving:
                    model = slot[0]
                else:
                    model = Model(os.path.join(self.home, "models", ticker, "v%d" % serving))
            self.slots[ticker] = [model, sig, now]
            return model


# ---- the service ----

def compute_inputs(cols):
    """The 7 inputs of the last `context` bars [context x 7], as the training pipeline computes
    them from the raw columns (row 0 of the context + 1 rows only lends its volume)."""
    close, volume, log_return, rsi, macd_hist, bb_pct_b, volatility, atr = cols
    ok_close = np.where(close > 0.0, close, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        vol_change = np.log((volume[1:] + 1.0) / (volume[:-1] + 1.0))
        vol_change[(volume[1:] < 0.0) | (volume[:-1] < 0.0)] = np.nan
        return np.stack((log_return[1:], vol_change, rsi[1:] / 100.0,
                         macd_hist[1:] / ok_close[1:], bb_pct_b[1:], volatility[1:],
                         atr[1:] / ok_close[1:]), axis=1)


class Service:
    def __init__(self):
        self.home = os.environ.get("SAO_HOME", "var")
        with open(os.path.join(self.home, "registry.json")) as f:
            registry = json.load(f)
        self.project = registry["project"]
        self.join_key = registry["entity"]["join_key"]
        views = registry["feature_views"]
        window = views[WINDOW_VIEW]["fields"]
        names = []
        for view, feature in RAW_SOURCES:
            names.append(next(f["name"] for f in window
                              if f["from_view"] == view and f["from_feature"] == feature))
        self.window_fields = [feast_field(WINDOW_VIEW, n) for n in names]
        self.window_fields.append(b"_ts:" + WINDOW_VIEW.encode())
        self.history_fields = [f["name"] for v in ("ohlcv_daily", "technical_daily")
                               for f in views[v]["fields"] if f["dtype"] == "Float64"]
        conn = os.environ.get("SAO_REDIS_CONNECTION", "127.0.0.1:6379")
        if conn.startswith("unix:"):  # the transport sao uses in the same run
            self.redis = redis.Redis(unix_socket_path=conn[5:], max_connections=64)
        else:
            host, _, port = conn.partition(":")
            self.redis = redis.Redis(host=host, port=int(port or 6379), max_connections=64)
        self.cache = os.environ.get("SAO_PREDICT_CACHE", "1") not in ("0", "false", "no")
        self.cache_prefix = "peer:prediction:%s:" % self.project
        self.models = ModelSlots(self.home)
        self.history = {}
        export_dir = os.environ.get("SAO_PEER_EXPORT_DIR")
        if export_dir:
            for name in sorted(os.listdir(export_dir)):
                if name.endswith(".csv"):
                    self.history[name[:-4]] = self.load_history(os.path.join(export_dir, name))

    def load_history(self, path):
        """(day numbers, records) of an exported CSV: one dict per row with the date and every
        history field, NaN as None, ready for json.dumps."""
        frame = pd.read_csv(path)
        days = (pd.to_datetime(frame["event_timestamp"]).dt.tz_localize(None)
                .values.astype("datetime64[D]").astype(np.int64))
        out = pd.DataFrame({"date": [day_text(d) for d in days]})
        for name in self.history_fields:
            column = frame[name].astype(float) if name in frame else np.nan
            out[name] = column
        out = out.astype(object).where(out.notna(), None)
        return days, out

    def predict(self, ticker, use_cache):
        """(status, body) of a forecast."""
        name = normalize_ticker(ticker)
        if name is None:
            return 400, {"error": "bad_request", "message": "bad ticker"}
        model = self.models.get(name)
        if model is None:
            return 404, {"error": "model_not_found", "message": "no model for %s" % name}
        caching = self.cache and use_cache
        key = feast_redis_key(self.project, self.join_key, name)
        cache_key = self.cache_prefix + name
        if caching:
            pipe = self.redis.pipeline(transaction=False)
            pipe.hmget(key, self.window_fields)
            pipe.get(cache_key)
            raw, cached = pipe.execute()
        else:
            raw, cached = self.redis.hmget(key, self.window_fields), None
        if raw[-1] is None:
            return 404, {"error": "features_not_found",
                         "message": "no online features for %s" % name}
        ts_us = decode_timestamp_us(raw[-1])
        cols = [decode_double_list(v) for v in raw[:-1]]
        if any(c is None for c in cols) or len({len(c) for c in cols}) != 1:
            return 500, {"error": "corrupt", "message": "online window of %s" % name}
        as_of_day = ts_us // 86400000000
        last = float(cols[0][-1])
        closes = None
        if caching and cached is not None:
            closes = self.cache_decode(cached, model, ts_us, last)
        hit = closes is not None
        if not hit:
            need = model.context + 1
            if len(cols[0]) < need:
                return 500, {"error": "corrupt", "message": "window too short"}
            inputs = compute_inputs([c[-need:] for c in cols])
            if not np.isfinite(inputs).all():
                return 500, {"error": "corrupt", "message": "input not finite"}
            scaled = ((inputs - model.center) / model.scale).astype(np.float32)
            returns = model.forward(scaled)
            closes = [last * (1.0 + float(r)) for r in returns]
            if caching:
                self.redis.set(cache_key, " ".join(
                    [CACHE_MAGIC, str(model.version), str(ts_us), str(model.horizon),
                     "%.17g" % last] + ["%.17g" % c for c in closes]), ex=CACHE_TTL_S)
        cls = asset_class(name)
        days = trading_days(cls, as_of_day, model.horizon)
        if model.drift_return is None:
            drift = [last] * model.horizon
        else:
            drift = [last * (1.0 + model.drift_return) ** (k + 1) for k in range(model.horizon)]
        return 200, {
            "ticker": name, "asset_class": cls, "as_of": day_text(as_of_day),
            "horizon": model.horizon,
            "predictions": [{"date": day_text(d), "close": c, "last_close": last}
                            for d, c in zip(days, closes)],
            "model": {"name": "%s/v%d" % (name, model.version), "version": model.version,
                      "arch": model.arch, "parent": model.parent},
            "baselines": {"persistence": [last] * model.horizon, "drift": drift},
            "cached": hit, "request_id": uuid.uuid4().hex}

    @staticmethod
    def cache_decode(value, model, ts_us, window_close):
        """The cached closes when written for this version, bar and horizon; None otherwise."""
        parts = value.decode("ascii", "replace").split()
        try:
            if (len(parts) != 5 + model.horizon or parts[0] != CACHE_MAGIC or
                    int(parts[1]) != model.version or int(parts[2]) != ts_us or
                    int(parts[3]) != model.horizon or float(parts[4]) != window_close):
                return None
            closes = [float(p) for p in parts[5:]]
        except ValueError:
            return None
        return closes if all(math.isfinite(c) for c in closes) else None

    def history_json(self, ticker, date_from, date_to, limit, fields):
        """(status, body bytes) of a history request."""
        name = normalize_ticker(ticker)
        if name is None or name not in self.history:
            return 404, json.dumps({"error": "ticker_not_found", "message": str(ticker)})
        days, records = self.history[name]
        try:
            lo_day = (datetime.date.fromisoformat(date_from) - EPOCH).days if date_from else None
            hi_day = (datetime.date.fromisoformat(date_to) - EPOCH).days if date_to else None
            limit = HISTORY_DEFAULT_LIMIT if limit is None else int(limit)
        except ValueError:
            return 400, json.dumps({"error": "bad_request", "message": "bad query"})
        if not 1 <= limit <= HISTORY_MAX_LIMIT:
            return 400, json.dumps({"error": "bad_request", "message": "bad limit"})
        selected = self.history_fields
        if fields:
            selected = [f.strip() for f in fields.split(",")]
            if any(f not in self.history_fields for f in selected):
                return 400, json.dumps({"error": "unknown_field", "message": fields})
        lo = 0 if lo_day is None else int(np.searchsorted(days, lo_day, side="left"))
        hi = len(days) if hi_day is None else int(np.searchsorted(days, hi_day, side="right"))
        total = max(hi - lo, 0)
        count = min(total, limit)
        rows = records.iloc[lo:lo + count][["date"] + selected].to_dict("records")
        body = {"ticker": name, "from": date_from, "to": date_to, "fields": selected,
                "limit": limit, "count": count, "total": total, "truncated": count < total,
                "next_from": day_text(days[lo + count]) if count < total else None,
                "rows": rows}
        return 200, json.dumps(body, separators=(",", ":"))


service = None
app = FastAPI()


@app.on_event("startup")
def start():
    global service
    service = Service()
    ready_dir = os.environ.get("SAO_PEER_READY_DIR")
    if ready_dir:  # tells the driver that this worker serves (a file named by its pid)
        open(os.path.join(ready_dir, str(os.getpid())), "w").close()


# The routes are coroutines that do their work on the event loop: each worker has a core of its
# own, and FastAPI's thread-pool hop for plain functions measured slower (about 600 against 700
# forecasts/s on two workers). Redis is on loopback, so a blocking round trip is short.
@app.get("/api/v1/predict/{ticker}")
async def predict(ticker: str, cache: bool = True):
    status, body = service.predict(ticker, cache)
    return JSONResponse(body, status_code=status)


@app.get("/api/v1/tickers/{ticker}/history")
async def history(ticker: str, date_from: str = Query(None, alias="from"), to: str = None,
            limit: int = None, fields: str = None):
    status, body = service.history_json(ticker, date_from, to, limit, fields)
    return Response(body, status_code=status, media_type="application/json")


if __name__ == "__main__":
    service = Service()
    status, body = service.predict(sys.argv[1] if len(sys.argv) > 1 else "AAPL", False)
    print(status, json.dumps(body))
