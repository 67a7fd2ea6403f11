#!/usr/bin/env python3
"""Writes tests/data/torch_reference.json: forward values and gradients from PyTorch (float64) for
the tensor-surface ops, which tests/torch_reference_test.cpp recomputes with nabla and compares to
1e-12. Each case: an op name (the C++ test maps it to nabla), its parameters, the inputs, the
output, a fixed weight w and the gradient of sum(output * w) for each float input.

    bash scripts/reference-python.sh scripts/torch_reference.py   (PyTorch: the reference environment's, else Debian's)
"""
import json
import math
import pathlib

import torch
import torch.nn.functional as F

torch.manual_seed(20261201)
DT = torch.float64


def f(*shape):
    return ("f", list(shape))


def pos(*shape):
    return ("pos", list(shape))


def distinct(*shape):
    return ("distinct", list(shape))


def idx(high, *shape):
    return ("i", list(shape), high)


def mask(*shape):
    return ("b", list(shape))


def make(spec):
    kind, shape = spec[0], spec[1]
    if kind == "f":
        return torch.randn(shape, dtype=DT)
    if kind == "pos":
        return torch.rand(shape, dtype=DT) * 2 + 0.2
    if kind == "distinct":
        n = math.prod(shape)
        return (torch.randperm(n).to(DT) * 0.37 - n * 0.15).reshape(shape)
    if kind == "i":
        return torch.randint(0, spec[2], shape)
    return torch.rand(shape) > 0.5


# name, params, inputs, function of the torch inputs
CASES = [
    ("permute", {"dims": [2, 0, 1]}, [f(2, 3, 4)], lambda x: x.permute(2, 0, 1)),
    ("permute", {"dims": [-1, 0, 1]}, [f(1, 3, 2)], lambda x: x.permute(-1, 0, 1)),
    ("transpose", {"d0": 0, "d1": -1}, [f(2, 3, 4)], lambda x: x.transpose(0, -1)),
    ("slice", {"axis": 1, "start": -3, "stop": 5, "step": 2}, [f(2, 5, 3)], lambda x: x[:, -3:5:2]),
    ("slice", {"axis": -1, "start": 1, "stop": -1, "step": 1}, [f(3, 4)], lambda x: x[..., 1:-1]),
    ("narrow", {"axis": 0, "start": 1, "length": 2}, [f(4, 3)], lambda x: x.narrow(0, 1, 2)),
    ("select", {"axis": 1, "index": -1}, [f(2, 3, 2)], lambda x: x.select(1, -1)),
    ("squeeze", {}, [f(1, 3, 1, 2)], lambda x: x.squeeze()),
    ("unsqueeze", {"axis": -1}, [f(2, 3)], lambda x: x.unsqueeze(-1)),
    ("expand", {"shape": [2, 3, 4]}, [f(3, 1)], lambda x: x.expand(2, 3, 4)),
    ("flip", {"axes": [0, -1]}, [f(2, 3, 2)], lambda x: x.flip(0, -1)),
    ("pad", {"widths": [1, 2, 0, 1], "value": 0.5}, [f(2, 3)], lambda x: F.pad(x, (1, 2, 0, 1), value=0.5)),
    ("cat", {"axis": 1}, [f(2, 3), f(2, 1), f(2, 2)], lambda a, b, c: torch.cat([a, b, c], 1)),
    ("stack", {"axis": -1}, [f(2, 3), f(2, 3)], lambda a, b: torch.stack([a, b], -1)),
    ("split_last", {"size": 2, "axis": 1}, [f(2, 5)], lambda x: torch.split(x, 2, 1)[-1]),
    ("chunk_first", {"chunks": 3, "axis": 0}, [f(7, 2)], lambda x: torch.chunk(x, 3, 0)[0]),
    ("index_select", {"axis": 0}, [f(4, 3), idx(4, 6)], lambda x, i: x.index_select(0, i)),
    ("gather", {"axis": 1}, [f(3, 4), idx(4, 3, 5)], lambda x, i: x.gather(1, i)),
    ("scatter_add", {"axis": 0}, [f(3, 4), idx(3, 2, 4), f(2, 4)], lambda x, i, s: x.scatter_add(0, i, s)),
    ("where", {}, [mask(3, 4), f(3, 4), f(4)], lambda c, a, b: torch.where(c, a, b)),
    ("masked_fill", {"value": -2.0}, [f(3, 4), mask(4)], lambda x, m: x.masked_fill(m, -2.0)),
    ("lt", {}, [f(3, 4), f(4)], lambda a, b: (a < b).to(DT)),
    ("ge", {}, [f(3, 4), f(3, 1)], lambda a, b: (a >= b).to(DT)),
    ("maximum", {}, [f(3, 4), f(4)], torch.maximum),
    ("minimum", {}, [f(2, 3), f(2, 1)], torch.minimum),
    ("clamp", {"lo": -0.5, "hi": 0.7}, [f(3, 4)], lambda x: x.clamp(-0.5, 0.7)),
    ("log1p", {}, [pos(3, 4)], torch.log1p),
    ("expm1", {}, [f(3, 4)], torch.expm1),
    ("sin", {}, [f(3, 4)], torch.sin),
    ("cos", {}, [f(3, 4)], torch.cos),
    ("sign", {}, [f(3, 4)], torch.sign),
    ("reciprocal", {}, [pos(3, 4)], torch.reciprocal),
    ("rsqrt", {}, [pos(3, 4)], torch.rsqrt),
    ("erf", {}, [f(3, 4)], torch.erf),
    ("softplus", {"beta": 1.5, "threshold": 20.0}, [f(3, 4)], lambda x: F.softplus(x, beta=1.5, threshold=20.0)),
    ("gelu", {"approximate": "none"}, [f(3, 4)], lambda x: F.gelu(x)),
    ("gelu", {"approximate": "tanh"}, [f(3, 4)], lambda x: F.gelu(x, approximate="tanh")),
    ("silu", {}, [f(3, 4)], F.silu),
    ("elu", {"alpha": 0.7}, [f(3, 4)], lambda x: F.elu(x, alpha=0.7)),
    ("sum_axes", {"axes": [0, 2], "keepdim": False}, [f(2, 3, 4)], lambda x: x.sum((0, 2))),
    ("mean_axes", {"axes": [-1], "keepdim": True}, [f(2, 3, 4)], lambda x: x.mean(-1, keepdim=True)),
    ("amax", {"axes": [1], "keepdim": False}, [distinct(3, 4)], lambda x: x.amax(1)),
    ("amin", {"axes": [0, 1], "keepdim": True}, [distinct(3, 4)], lambda x: x.amin((0, 1), keepdim=True)),
    ("max_values", {"axis": 0, "keepdim": False}, [distinct(3, 4)], lambda x: x.max(0).values),
    ("max_indices", {"axis": 1, "keepdim": False}, [distinct(3, 4)], lambda x: x.max(1).indices),
    ("min_values", {"axis": -1, "keepdim": True}, [distinct(3, 4)], lambda x: x.min(-1, keepdim=True).values),
    ("argmin", {"axis": 0}, [distinct(3, 4)], lambda x: x.argmin(0)),
    ("logsumexp", {"axes": [1], "keepdim": False}, [f(3, 4)], lambda x: x.logsumexp(1)),
    ("logsumexp", {"axes": [0, 2], "keepdim": True}, [f(2, 3, 4)], lambda x: x.logsumexp((0, 2), keepdim=True)),
    ("var", {"axes": [1], "correction": 1, "keepdim": False}, [f(3, 4)], lambda x: x.var(1, unbiased=True)),
    ("std", {"axes": [], "correction": 0, "keepdim": False}, [f(3, 4)], lambda x: x.std(unbiased=False)),
    ("norm", {"p": 2, "axes": [1], "keepdim": False}, [f(3, 4)], lambda x: torch.linalg.vector_norm(x, 2, dim=1)),
    ("norm", {"p": 1, "axes": [], "keepdim": False}, [f(3, 4)], lambda x: torch.linalg.vector_norm(x, 1)),
    ("norm", {"p": "inf", "axes": [0], "keepdim": True}, [distinct(3, 4)],
     lambda x: torch.linalg.vector_norm(x, float("inf"), dim=0, keepdim=True)),
    ("prod", {"axis": 1, "keepdim": False}, [f(3, 4)], lambda x: x.prod(1)),
    ("cumsum", {"axis": -1}, [f(3, 4)], lambda x: x.cumsum(-1)),
    ("sort_values", {"axis": -1, "descending": True}, [distinct(3, 4)], lambda x: x.sort(-1, descending=True).values),
    ("argsort", {"axis": 0, "descending": False}, [distinct(3, 4)], lambda x: x.argsort(0)),
    ("topk_values", {"k": 2, "axis": 1, "largest": True}, [distinct(3, 5)], lambda x: x.topk(2, 1).values),
    ("topk_indices", {"k": 2, "axis": 1, "largest": False}, [distinct(3, 5)], lambda x: x.topk(2, 1, largest=False).indices),
    ("softmax", {"axis": 0}, [f(3, 4)], lambda x: x.softmax(0)),
    ("log_softmax", {"axis": 1}, [f(2, 3, 4)], lambda x: x.log_softmax(1)),
    ("matmul", {}, [f(2, 3, 4), f(4, 5)], torch.matmul),
    ("matmul", {}, [f(2, 1, 3, 4), f(3, 4, 2)], torch.matmul),
    ("matmul", {}, [f(4), f(2, 4, 3)], torch.matmul),
    ("matmul", {}, [f(3, 4), f(4)], torch.matmul),
    ("matmul", {}, [f(4), f(4)], torch.matmul),
    ("bmm", {}, [f(2, 3, 4), f(2, 4, 2)], torch.bmm),
    ("dot", {}, [f(5), f(5)], torch.dot),
    ("outer", {}, [f(3), f(4)], torch.outer),
    ("einsum", {"equation": "bij,bjk->bik"}, [f(2, 3, 4), f(2, 4, 5)], lambda a, b: torch.einsum("bij,bjk->bik", a, b)),
    ("einsum", {"equation": "bij,jk->kb"}, [f(2, 3, 4), f(4, 5)], lambda a, b: torch.einsum("bij,jk->kb", a, b)),
    ("einsum", {"equation": "ij,kj"}, [f(3, 4), f(5, 4)], lambda a, b: torch.einsum("ij,kj", a, b)),
]


def encode(t):
    if t.dtype == torch.bool:
        return {"dtype": "bool", "shape": list(t.shape), "values": [bool(v) for v in t.flatten().tolist()]}
    if t.dtype == torch.int64:
        return {"dtype": "int64", "shape": list(t.shape), "values": t.flatten().tolist()}
    return {"dtype": "float64", "shape": list(t.shape), "values": t.flatten().tolist()}


def main():
    out = []
    for name, params, specs, fn in CASES:
        inputs = [make(s) for s in specs]
        leaves = [t.clone().requires_grad_(t.dtype == DT) for t in inputs]
        y = fn(*leaves)
        case = {"op": name, "params": params, "inputs": [encode(t) for t in inputs], "output": encode(y.detach())}
        if y.dtype == DT and y.requires_grad:
            w = torch.randn(y.shape, dtype=DT)
            (y * w).sum().backward()
            case["weight"] = encode(w)
            case["grads"] = [encode(t.grad) if t.grad is not None else None for t in leaves]
        out.append(case)
    path = pathlib.Path(__file__).resolve().parent.parent / "tests" / "data" / "torch_reference.json"
    path.write_text(json.dumps({"torch": torch.__version__, "cases": out}, separators=(",", ":")) + "\n")
    print(f"wrote {path}: {len(out)} cases from torch {torch.__version__}")


if __name__ == "__main__":
    main()
