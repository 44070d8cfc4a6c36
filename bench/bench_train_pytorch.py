"""Training throughput of the anchor forecaster in PyTorch, the peer of bench_train.c.

Usage: bench_train_pytorch.py DUMP_DIR [--threads N] [--epochs E] [--seed S]

DUMP_DIR is what `bench_train --dump DUMP_DIR` wrote: windows.bin (the prepared, scaled train
and validation windows and their targets) and init.safetensors (the C model's initial weights,
whose metadata gives the architecture). So both sides train on identical inputs, targets and
split, from identical weights; only the shuffling order and the dropout masks differ.

Prints one JSON line with the same fields as the C bench.
"""
import argparse
import json
import resource
import struct
import time

import numpy as np
import torch
from torch import nn


def read_header(blob, path):
    """Splits an 8-byte little-endian length + JSON header from the bytes that follow it."""
    (header_len,) = struct.unpack_from("<Q", blob, 0)
    if 8 + header_len > len(blob):
        raise ValueError("%s: header of %d bytes runs past the end" % (path, header_len))
    header = json.loads(blob[8:8 + header_len].decode("utf-8"))
    return header, 8 + header_len


def read_safetensors(path):
    """Returns (metadata, {name: float32 tensor}) of a safetensors file (parsed by hand: the
    safetensors package is not part of Debian)."""
    with open(path, "rb") as f:
        blob = f.read()
    header, data_start = read_header(blob, path)
    metadata = header.pop("__metadata__", {})
    tensors = {}
    for name, entry in header.items():
        if entry["dtype"] != "F32":
            raise ValueError("%s: %s has dtype %s, expected F32" % (path, name, entry["dtype"]))
        begin, end = entry["data_offsets"]
        values = np.frombuffer(blob, dtype="<f4", count=(end - begin) // 4,
                               offset=data_start + begin)
        tensors[name] = torch.from_numpy(values.copy()).reshape(entry["shape"])
    return metadata, tensors


def read_windows(path):
    """Returns (header, train_x, val_x, train_y, val_y) from bench_train's windows.bin."""
    with open(path, "rb") as f:
        blob = f.read()
    header, offset = read_header(blob, path)
    context, features = header["context_length"], header["features"]
    horizon, train, val = header["horizon"], header["train"], header["val"]
    arrays = []
    for count, shape in ((train, (context, features)), (val, (context, features)),
                         (train, (horizon,)), (val, (horizon,))):
        size = count * int(np.prod(shape))
        values = np.frombuffer(blob, dtype="<f4", count=size, offset=offset)
        offset += 4 * size
        arrays.append(torch.from_numpy(values.copy()).reshape((count,) + shape))
    if offset != len(blob):
        raise ValueError("%s: %d bytes left over" % (path, len(blob) - offset))
    return (header,) + tuple(arrays)


class Forecaster(nn.Module):
    """Stacked LSTM layers (dropout between them) and a linear head on the last time step: the
    state_dict names match the C model's tensors (lstm.*, head.*)."""

    def __init__(self, input_size, hidden_size, num_layers, horizon, dropout):
        super().__init__()
        self.lstm = nn.LSTM(input_size, hidden_size, num_layers=num_layers, batch_first=True,
                            dropout=dropout if num_layers > 1 else 0.0)
        self.head = nn.Linear(hidden_size, horizon)

    def forward(self, inputs):
        sequence, _ = self.lstm(inputs)
        return self.head(sequence[:, -1, :])


def validation_mse(model, inputs, targets, batch_size):
    """Mean squared error over every validation value, dropout off, in batches as the C side."""
    model.eval()
    total = 0.0
    with torch.no_grad():
        for first in range(0, inputs.shape[0], batch_size):
            pred = model(inputs[first:first + batch_size])
            total += float(((pred - targets[first:first + batch_size]) ** 2).sum())
    model.train()
    return total / targets.numel()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("dump_dir")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    # Seeds the shuffling and the dropout masks (the weights come from init.safetensors).
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    header, train_x, val_x, train_y, val_y = read_windows(args.dump_dir + "/windows.bin")
    metadata, weights = read_safetensors(args.dump_dir + "/init.safetensors")
    if metadata.get("arch") != "lstm":
        raise ValueError("expected an LSTM, the weights say %r" % metadata.get("arch"))
    hidden, layers = int(metadata["hidden_size"]), int(metadata["num_layers"])
    model = Forecaster(int(metadata["input_size"]), hidden, layers, int(metadata["horizon"]),
                       float(metadata["dropout"]))
    # strict: every name and shape must match PyTorch's own state_dict.
    model.load_state_dict(weights, strict=True)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.MSELoss()

    train_count = train_x.shape[0]
    epoch_seconds = []
    train_mse = val_mse = float("nan")
    for _ in range(args.epochs):
        started = time.perf_counter()
        # Shuffled within the training windows only; validation keeps its order.
        order = torch.randperm(train_count)
        loss_sum = 0.0
        for first in range(0, train_count, args.batch_size):
            index = order[first:first + args.batch_size]
            optimizer.zero_grad()
            loss = loss_fn(model(train_x[index]), train_y[index])
            loss.backward()
            optimizer.step()
            loss_sum += float(loss) * index.shape[0]
        train_mse = loss_sum / train_count
        # The epoch's time includes its validation pass, as sao_model_train's does.
        val_mse = validation_mse(model, val_x, val_y, args.batch_size)
        epoch_seconds.append(time.perf_counter() - started)

    total = sum(epoch_seconds)
    print(json.dumps({
        "bench": "train", "impl": "pytorch", "torch": torch.__version__,
        "config": "small" if (hidden, layers) == (64, 2) else
                  "anchor" if (hidden, layers) == (128, 3) else "other",
        "hidden": hidden, "layers": layers, "threads": args.threads,
        "epochs": args.epochs, "train_windows": train_count, "val_windows": val_x.shape[0],
        "epoch_seconds": [round(s, 3) for s in epoch_seconds],
        "seconds_per_epoch": round(total / args.epochs, 3),
        "windows_per_s": round(train_count * args.epochs / total, 1),
        "final_train_mse": float("%.6g" % train_mse), "final_val_mse": float("%.6g" % val_mse),
        # ru_maxrss is in kilobytes on Linux; it includes the torch import itself.
        "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "context_length": header["context_length"]}, separators=(",", ":")))


if __name__ == "__main__":
    main()
