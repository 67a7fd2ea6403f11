#!/usr/bin/env python3
"""Writes tests/data/layers_reference.json: PyTorch's float64 forward values, gradients and buffers
for nabla's layers beyond the book (nabla/nn_layers.hpp, nabla/nn_recurrent.hpp), which
tests/layers_reference_test.cpp rebuilds with nabla and compares to 1e-12.

Each case: a layer name and constructor parameters (the C++ test maps both to nabla), the layer's
state_dict (parameters drawn at random, buffers too where evaluation uses them), train or eval mode,
the inputs, the outputs, a fixed weight w_k per output and the gradients of Σ_k sum(output_k · w_k)
with respect to every float input and every parameter, and the buffers after the forward pass.

    bash scripts/reference-python.sh scripts/layers_reference.py   (PyTorch: the reference environment's, else Debian's)
"""
import json
import pathlib

import torch
import torch.nn as nn

torch.manual_seed(20261202)
DT = torch.float64


def randomize(m, buffers=False):
    """Random parameters (and running statistics, for evaluation) so no default hides an error."""
    with torch.no_grad():
        for name, p in m.named_parameters():
            p.copy_(torch.randn_like(p) * 0.5 + (1.0 if name.endswith("weight") and p.dim() == 1 else 0.0))
        if buffers:
            for name, b in m.named_buffers():
                if name.endswith("running_mean"):
                    b.copy_(torch.randn_like(b))
                elif name.endswith("running_var"):
                    b.copy_(torch.rand_like(b) + 0.5)
    return m


def f(*shape):
    return torch.randn(shape, dtype=DT)


# name, constructor parameters (as the C++ test reads them), module, train?, inputs, forward
CASES = [
    ("BatchNorm1d", {"features": 3}, lambda: randomize(nn.BatchNorm1d(3)), True, [f(5, 3)]),
    ("BatchNorm1d", {"features": 2, "momentum": 0.3}, lambda: randomize(nn.BatchNorm1d(2, momentum=0.3)), True,
     [f(3, 2, 4)]),
    ("BatchNorm2d", {"features": 3}, lambda: randomize(nn.BatchNorm2d(3)), True, [f(2, 3, 4, 5)]),
    ("BatchNorm2d", {"features": 3}, lambda: randomize(nn.BatchNorm2d(3), buffers=True), False, [f(2, 3, 4, 5)]),
    ("BatchNorm2d", {"features": 2, "affine": False, "eps": 1e-3},
     lambda: nn.BatchNorm2d(2, affine=False, eps=1e-3), True, [f(3, 2, 2, 3)]),
    ("LayerNorm", {"shape": [4]}, lambda: randomize(nn.LayerNorm(4)), True, [f(3, 4)]),
    ("LayerNorm", {"shape": [3, 4]}, lambda: randomize(nn.LayerNorm([3, 4])), True, [f(2, 3, 4)]),
    ("GroupNorm", {"groups": 2, "channels": 4}, lambda: randomize(nn.GroupNorm(2, 4)), True, [f(2, 4, 3, 2)]),
    ("GroupNorm", {"groups": 3, "channels": 3}, lambda: randomize(nn.GroupNorm(3, 3)), True, [f(2, 3, 5)]),
    ("Embedding", {"num": 5, "dim": 3}, lambda: randomize(nn.Embedding(5, 3)), True,
     [torch.tensor([[1, 4, 1], [0, 1, 3]])]),
    ("Conv2d", {"in": 4, "out": 6, "k": 3, "stride": 1, "padding": 2, "dilation": 2, "groups": 2},
     lambda: randomize(nn.Conv2d(4, 6, 3, padding=2, dilation=2, groups=2)), True, [f(2, 4, 7, 6)]),
    ("Conv2d", {"in": 3, "out": 3, "k": 3, "stride": 2, "padding": 1, "dilation": 1, "groups": 3},
     lambda: randomize(nn.Conv2d(3, 3, 3, stride=2, padding=1, groups=3)), True, [f(2, 3, 6, 5)]),
    ("Conv1d", {"in": 2, "out": 4, "k": 3, "stride": 2, "padding": 1, "dilation": 1, "groups": 1},
     lambda: randomize(nn.Conv1d(2, 4, 3, stride=2, padding=1)), True, [f(3, 2, 9)]),
    ("Conv1d", {"in": 4, "out": 2, "k": 2, "stride": 1, "padding": 0, "dilation": 3, "groups": 2},
     lambda: randomize(nn.Conv1d(4, 2, 2, dilation=3, groups=2)), True, [f(2, 4, 8)]),
    ("ConvTranspose2d", {"in": 3, "out": 2, "k": 3, "stride": 2, "padding": 1, "output_padding": 1},
     lambda: randomize(nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1, output_padding=1)), True, [f(2, 3, 4, 5)]),
    ("ConvTranspose2d", {"in": 2, "out": 3, "k": 2, "stride": 1, "padding": 0, "output_padding": 0},
     lambda: randomize(nn.ConvTranspose2d(2, 3, 2)), True, [f(1, 2, 3, 3)]),
    ("AdaptiveAvgPool2d", {"h": 3, "w": 2}, lambda: nn.AdaptiveAvgPool2d((3, 2)), True, [f(2, 3, 7, 5)]),
    ("AdaptiveAvgPool2d", {"h": 1, "w": 1}, lambda: nn.AdaptiveAvgPool2d(1), True, [f(2, 3, 4, 4)]),
    ("Upsample", {"scale": 2}, lambda: nn.Upsample(scale_factor=2, mode="nearest"), True, [f(2, 3, 3, 2)]),
    ("Upsample", {"h": 5, "w": 7}, lambda: nn.Upsample(size=(5, 7), mode="nearest"), True, [f(1, 2, 3, 4)]),
    # Recurrent: the inputs are x and the state; the outputs are flattened (output, h[, c]).
    ("RNNCell", {"in": 3, "hidden": 4}, lambda: nn.RNNCell(3, 4), True, [f(2, 3), f(2, 4)]),
    ("RNNCell", {"in": 3, "hidden": 4, "relu": True}, lambda: nn.RNNCell(3, 4, nonlinearity="relu"), True, [f(2, 3), f(2, 4)]),
    ("LSTMCell", {"in": 3, "hidden": 4}, lambda: nn.LSTMCell(3, 4), True, [f(2, 3), f(2, 4), f(2, 4)],
     lambda m, x, h, c: list(m(x, (h, c)))),
    ("GRUCell", {"in": 3, "hidden": 4}, lambda: nn.GRUCell(3, 4), True, [f(2, 3), f(2, 4)]),
    ("RNN", {"in": 3, "hidden": 4, "layers": 2}, lambda: nn.RNN(3, 4, num_layers=2), True, [f(5, 2, 3), f(2, 2, 4)],
     lambda m, x, h: list(m(x, h))),
    ("LSTM", {"in": 3, "hidden": 4, "layers": 2}, lambda: nn.LSTM(3, 4, num_layers=2), True,
     [f(5, 2, 3), f(2, 2, 4), f(2, 2, 4)], lambda m, x, h, c: (lambda o: [o[0], o[1][0], o[1][1]])(m(x, (h, c)))),
    ("LSTM", {"in": 3, "hidden": 5, "batch_first": True}, lambda: nn.LSTM(3, 5, batch_first=True), True,
     [f(2, 4, 3)], lambda m, x: (lambda o: [o[0], o[1][0], o[1][1]])(m(x))),
    ("LSTM", {"in": 2, "hidden": 3, "bias": False}, lambda: nn.LSTM(2, 3, bias=False), True,
     [f(4, 3, 2)], lambda m, x: (lambda o: [o[0], o[1][0], o[1][1]])(m(x))),
    ("GRU", {"in": 3, "hidden": 4, "layers": 2, "batch_first": True}, lambda: nn.GRU(3, 4, num_layers=2, batch_first=True),
     True, [f(2, 5, 3), f(2, 2, 4)], lambda m, x, h: list(m(x, h))),
    ("GRU", {"in": 3, "hidden": 4}, lambda: nn.GRU(3, 4), True, [f(6, 1, 3)], lambda m, x: list(m(x))),
]



def module_cases():
    """The activations and modules for PyTorch users (nabla/nn.hpp), in their own file
    (tests/data/modules_reference.json) with their own seed; inputs scaled past every kink."""
    torch.manual_seed(20261204)
    return [
        ("ReLU6", {}, lambda: nn.ReLU6(), True, [f(4, 6) * 4]),
        ("Hardswish", {}, lambda: nn.Hardswish(), True, [f(4, 6) * 3]),
        ("Mish", {}, lambda: nn.Mish(), True, [f(4, 6) * 3]),
        ("GELU", {"approximate": "none"}, lambda: nn.GELU(), True, [f(3, 5) * 2]),
        ("GELU", {"approximate": "tanh"}, lambda: nn.GELU(approximate="tanh"), True, [f(3, 5) * 2]),
        ("SiLU", {}, lambda: nn.SiLU(), True, [f(3, 5) * 2]),
        ("PReLU", {"num_parameters": 1}, lambda: randomize(nn.PReLU()), True, [f(3, 4)]),
        ("PReLU", {"num_parameters": 3}, lambda: randomize(nn.PReLU(3)), True, [f(2, 3, 4, 2)]),
        ("Softmax", {"dim": 1}, lambda: nn.Softmax(dim=1), True, [f(2, 4, 3)]),
        ("LogSoftmax", {"dim": 0}, lambda: nn.LogSoftmax(dim=0), True, [f(3, 5)]),
        ("LogSoftmax", {"dim": -1}, lambda: nn.LogSoftmax(dim=-1), True, [f(2, 3, 4)]),
    ]


def encode(t):
    if t.dtype == torch.int64:
        return {"dtype": "int64", "shape": list(t.shape), "values": t.flatten().tolist()}
    return {"dtype": "float64", "shape": list(t.shape), "values": t.double().flatten().tolist()}


def run(cases, file):
    out = []
    for name, params, make, train, inputs, *call in cases:
        m = make().to(DT)
        state = {k: encode(v) for k, v in m.state_dict().items()}
        m.train(train)
        leaves = [t.clone().requires_grad_(t.dtype == DT) for t in inputs]
        y = call[0](m, *leaves) if call else m(*leaves)
        ys = y if isinstance(y, list) else [y]
        ws = [torch.randn(t.shape, dtype=DT) for t in ys]
        sum((t * w).sum() for t, w in zip(ys, ws)).backward()
        out.append({
            "layer": name, "params": params, "train": train, "state": state,
            "inputs": [encode(t) for t in inputs], "outputs": [encode(t.detach()) for t in ys],
            "weights": [encode(w) for w in ws],
            "input_grads": [encode(t.grad) if t.grad is not None else None for t in leaves],
            "param_grads": {k: encode(p.grad) for k, p in m.named_parameters()},
            "buffers_after": {k: encode(b) for k, b in m.named_buffers()},
        })
    path = pathlib.Path(__file__).resolve().parent.parent / "tests" / "data" / file
    path.write_text(json.dumps({"torch": torch.__version__, "cases": out}, separators=(",", ":")) + "\n")
    print(f"wrote {path}: {len(out)} cases from torch {torch.__version__}")


def main():
    run(CASES, "layers_reference.json")
    run(module_cases(), "modules_reference.json")


if __name__ == "__main__":
    main()
