"""Checks one record of sao_model_tool against PyTorch.

Usage: torch_parity.py RECORD_DIR BATCH TIME_STEPS

RECORD_DIR holds what sao_model_tool wrote: model.safetensors (the C model), grads.safetensors
(its parameter gradients under the same names), inputs.f32, output.f32 and d_out.f32 (raw
little-endian float32). The script builds the same network from torch.nn.LSTM / nn.GRU and
nn.Linear, loads the C weights by name, runs forward in eval mode and backward with the same
d_out, and compares outputs and every gradient. Exit status: 0 when everything agrees, 1 on a
mismatch, 77 when torch cannot be imported.

Only the standard library and torch are used: the safetensors files are parsed by hand, since
the safetensors package is not part of Debian.
"""
import json
import struct
import sys

try:
    import torch
    from torch import nn
except ImportError as exc:
    print("python3-torch is not installed: %s" % exc, file=sys.stderr)
    sys.exit(77)

# Tolerances, relative to the largest magnitude in the reference tensor (a max-norm relative
# error, so that near-zero elements do not blow it up).
#
# Outputs come from 60 recurrent steps in float32 on both sides; the two differ only in the
# order BLAS and ATen sum the products, which moves a result by a few float32 ulps (measured:
# at most ~1.2e-7 relative, the same distance each side has from a float64 run).
OUTPUT_TOLERANCE = 1e-5
# Gradients are sums over batch x time (240 terms per weight here) of products that were
# themselves accumulated backwards through 60 steps, in a different summation order on each side
# (C sums a weight's gradient with one BLAS product over all steps; autograd adds up one
# contribution per step of the unrolled graph). Rounding differences of a few ulps per
# term add up in those long sums, so the gradients drift further apart than the outputs
# (measured: at most ~6e-7 relative). 1e-4 leaves ample room for other BLAS builds yet still
# catches any wrong term: a misplaced gate or a missing path moves gradients by whole percents.
GRADIENT_TOLERANCE = 1e-4


def read_safetensors(path):
    """Returns (metadata dict, {name: float32 tensor}) of a safetensors file."""
    with open(path, "rb") as f:
        blob = f.read()
    (header_len,) = struct.unpack_from("<Q", blob, 0)
    header = json.loads(blob[8:8 + header_len].decode("utf-8"))
    data = blob[8 + header_len:]
    metadata = header.pop("__metadata__", {})
    tensors = {}
    for name, entry in header.items():
        if entry["dtype"] != "F32":
            raise ValueError("%s: tensor %s has dtype %s, expected F32"
                             % (path, name, entry["dtype"]))
        begin, end = entry["data_offsets"]
        count = (end - begin) // 4
        values = struct.unpack_from("<%df" % count, data, begin)
        tensors[name] = torch.tensor(values, dtype=torch.float32).reshape(entry["shape"])
    return metadata, tensors


def read_f32(path, shape):
    """A raw little-endian float32 file as a tensor of `shape`."""
    with open(path, "rb") as f:
        blob = f.read()
    count = len(blob) // 4
    expected = 1
    for dim in shape:
        expected *= dim
    if count != expected or len(blob) % 4:
        raise ValueError("%s holds %d bytes, expected %d floats" % (path, len(blob), expected))
    return torch.tensor(struct.unpack("<%df" % count, blob), dtype=torch.float32).reshape(shape)


class Forecaster(nn.Module):
    """The network the C model module implements: stacked recurrent layers and a linear head on
    the last time step of the top layer. The recurrent module is stored under the attribute
    named after the architecture, so the state_dict keys are lstm.* or gru.* and head.*."""

    def __init__(self, arch, input_size, hidden_size, num_layers, horizon, dropout):
        super().__init__()
        rnn_class = {"lstm": nn.LSTM, "gru": nn.GRU}[arch]
        # nn.LSTM warns about dropout on a single layer, where it has nothing to act on.
        rnn = rnn_class(input_size, hidden_size, num_layers=num_layers, batch_first=True,
                        dropout=dropout if num_layers > 1 else 0.0)
        self.arch = arch
        setattr(self, arch, rnn)
        self.head = nn.Linear(hidden_size, horizon)

    def forward(self, inputs):
        sequence, _ = getattr(self, self.arch)(inputs)
        return self.head(sequence[:, -1, :])


def run_torch(metadata, weights, inputs, d_out, dtype):
    """Forward (eval mode) and backward in `dtype`; returns (outputs, {name: gradient})."""
    model = Forecaster(metadata["arch"], int(metadata["input_size"]),
                       int(metadata["hidden_size"]), int(metadata["num_layers"]),
                       int(metadata["horizon"]), float(metadata["dropout"]))
    expected = set(model.state_dict().keys())
    if expected != set(weights.keys()):
        raise ValueError("tensor names differ from PyTorch's state_dict: only in C: %s; "
                         "only in PyTorch: %s" % (sorted(set(weights) - expected),
                                                  sorted(expected - set(weights))))
    # strict=True also checks every shape against PyTorch's.
    model.load_state_dict(weights, strict=True)
    model.to(dtype)
    # Eval mode: the C side runs with training off, so dropout must be a no-op here as well.
    model.eval()
    outputs = model(inputs.to(dtype))
    outputs.backward(d_out.to(dtype))
    grads = {name: param.grad.detach() for name, param in model.named_parameters()}
    return outputs.detach(), grads


def relative_error(ours, reference):
    """max |ours - reference| / max |reference| (0 for two all-zero tensors)."""
    diff = (ours.double() - reference.double()).abs().max().item()
    scale = reference.double().abs().max().item()
    if scale == 0.0:
        return diff, diff
    return diff, diff / scale


def main(argv):
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    record, batch, time_steps = argv[1], int(argv[2]), int(argv[3])
    metadata, weights = read_safetensors(record + "/model.safetensors")
    _, c_grads = read_safetensors(record + "/grads.safetensors")
    input_size = int(metadata["input_size"])
    horizon = int(metadata["horizon"])
    inputs = read_f32(record + "/inputs.f32", (batch, time_steps, input_size))
    c_outputs = read_f32(record + "/output.f32", (batch, horizon))
    d_out = read_f32(record + "/d_out.f32", (batch, horizon))

    # One thread: the reference is then the same on every run.
    torch.set_num_threads(1)
    torch_outputs, torch_grads = run_torch(metadata, weights, inputs, d_out, torch.float32)
    # A float64 run is the exact answer to within float32's reach; it shows how far each float32
    # implementation is from it, so a failure can be told from rounding.
    exact_outputs, exact_grads = run_torch(metadata, weights, inputs, d_out, torch.float64)

    failures = 0
    rows = [("output", c_outputs, torch_outputs, exact_outputs, OUTPUT_TOLERANCE)]
    for name in torch_grads:
        if name not in c_grads:
            print("FAIL grad %s: missing from grads.safetensors" % name)
            failures += 1
            continue
        rows.append(("grad " + name, c_grads[name], torch_grads[name], exact_grads[name],
                     GRADIENT_TOLERANCE))
    worst = {"output": 0.0, "grad": 0.0}
    for label, ours, reference, exact, tolerance in rows:
        if ours.shape != reference.shape:
            print("FAIL %s: shape %s, PyTorch's %s"
                  % (label, tuple(ours.shape), tuple(reference.shape)))
            failures += 1
            continue
        diff, rel = relative_error(ours, reference)
        _, c_exact = relative_error(ours, exact)
        _, torch_exact = relative_error(reference, exact)
        kind = label.split(" ")[0]
        worst[kind] = max(worst[kind], rel)
        verdict = "ok  " if rel <= tolerance else "FAIL"
        if rel > tolerance:
            failures += 1
        print("%s %-26s max|diff| %.3e  rel %.3e (tol %.0e)  vs float64: C %.1e, torch %.1e"
              % (verdict, label, diff, rel, tolerance, c_exact, torch_exact))
    print("worst relative difference: outputs %.3e, gradients %.3e"
          % (worst["output"], worst["grad"]))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
