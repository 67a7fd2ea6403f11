#!/usr/bin/env python3
"""Writes tests/data/lstm_reference.json: torch.nn.LSTM's float64 outputs and gradients for the cases
tests/lstm_fused_test.cpp rebuilds with nabla's fused LSTM (nabla::lstm_recurrence) and compares to 1e-12.

Each case: the constructor parameters, the state_dict (PyTorch's names: weight_ih_l0, weight_hh_l0,
bias_ih_l0, bias_hh_l0, ...; drawn at random), the inputs x and, where given, h0 and c0, the outputs
(output, h_n, c_n), a fixed weight w_k per output and the gradients of sum_k sum(output_k * w_k) with
respect to x, h0, c0 and every parameter.

    bash scripts/reference-python.sh scripts/lstm_reference.py   (the reference environment's PyTorch)
"""
import json
import pathlib

import torch
import torch.nn as nn

torch.manual_seed(20261204)
DT = torch.float64

# in, hidden, layers, batch_first, bias, T, N, with an initial state
CASES = [
    (3, 4, 1, False, True, 1, 1, False),
    (4, 5, 1, False, True, 5, 3, True),
    (3, 4, 2, True, True, 7, 2, True),
    (2, 3, 2, False, False, 4, 4, False),
    (5, 6, 1, True, True, 6, 2, False),
    (3, 16, 2, False, True, 9, 5, True),
]


def encode(t):
    return {"dtype": "float64", "shape": list(t.shape), "values": t.double().flatten().tolist()}


def main():
    out = []
    for i, h, layers, bf, bias, steps, n, state in CASES:
        m = nn.LSTM(i, h, num_layers=layers, batch_first=bf, bias=bias).to(DT)
        with torch.no_grad():
            for p in m.parameters():
                p.copy_(torch.randn_like(p) * 0.5)
        x = torch.randn((n, steps, i) if bf else (steps, n, i), dtype=DT)
        inputs = [x] + ([torch.randn(layers, n, h, dtype=DT), torch.randn(layers, n, h, dtype=DT)] if state else [])
        leaves = [t.clone().requires_grad_(True) for t in inputs]
        o, (hn, cn) = m(leaves[0], (leaves[1], leaves[2])) if state else m(leaves[0])
        ys = [o, hn, cn]
        ws = [torch.randn(t.shape, dtype=DT) for t in ys]
        sum((t * w).sum() for t, w in zip(ys, ws)).backward()
        out.append({
            "params": {"in": i, "hidden": h, "layers": layers, "batch_first": bf, "bias": bias},
            "state": {k: encode(v) for k, v in m.state_dict().items()},
            "inputs": [encode(t) for t in inputs], "outputs": [encode(t.detach()) for t in ys],
            "weights": [encode(w) for w in ws], "input_grads": [encode(t.grad) for t in leaves],
            "param_grads": {k: encode(p.grad) for k, p in m.named_parameters()},
        })
    path = pathlib.Path(__file__).resolve().parent.parent / "tests" / "data" / "lstm_reference.json"
    path.write_text(json.dumps({"torch": torch.__version__, "cases": out}, separators=(",", ":")) + "\n")
    print(f"wrote {path}: {len(out)} cases from torch {torch.__version__}")


if __name__ == "__main__":
    main()
