#!/usr/bin/env python3
"""Writes tests/data/attention_reference.json: PyTorch's float64 torch.nn.functional.scaled_dot_product_attention
outputs and gradients, which tests/ops/attention_test.cpp recomputes with nabla (both backends) and compares to 1e-12.

Each case: query, key, value, the attention mask (bool, or float; a float mask's −inf entries, which JSON cannot
hold, are listed in "mask_neg_inf" as a bool tensor and stored as 0 in "mask"), is_causal, scale (null: PyTorch's
default 1/√E), the output, a fixed weight w and the gradients of sum(output · w) for query, key, value and, for a
float mask, the mask. Fully masked rows are included: PyTorch 2.x gives 0 there, output and gradients.

    ~/.cache/nabla/reference-env/bin/python scripts/attention_reference.py
"""
import json
import pathlib

import torch
import torch.nn.functional as F

torch.manual_seed(20261204)
DT = torch.float64


def f(*shape):
    return torch.randn(shape, dtype=DT)


def bool_mask(L, S, pad_rows=(), pad_cols=(), shape=None):
    m = torch.rand(L, S) > 0.3
    m[:, 0] = True  # every row keeps a key unless padded
    for r in pad_rows:
        m[r, :] = False
    for c in pad_cols:
        m[:, c] = False
    return m if shape is None else m.reshape(shape)


def neg_inf_mask(shape, full_row=None):
    m = torch.randn(shape, dtype=DT)
    inf = torch.rand(shape) > 0.7
    inf[..., 0] = False
    if full_row is not None:
        inf[..., full_row, :] = True
    return m.masked_fill(inf, float("-inf")), inf


# name, q, k, v, mask, is_causal, scale
CASES = [
    ("plain, L != S", f(2, 3, 4), f(2, 5, 4), f(2, 5, 3), None, False, None),
    ("2-d inputs", f(3, 4), f(5, 4), f(5, 2), None, False, None),
    ("scale 0.3, heads", f(2, 2, 4, 3), f(2, 2, 6, 3), f(2, 2, 6, 5), None, False, 0.3),
    ("bool mask, padding row and column", f(2, 2, 4, 3), f(2, 2, 6, 3), f(2, 2, 6, 3),
     bool_mask(4, 6, pad_rows=(2,), pad_cols=(5,)), False, None),
    ("bool mask per batch [2, 1, 1, 6]", f(2, 2, 4, 3), f(2, 2, 6, 3), f(2, 2, 6, 3),
     bool_mask(2, 6, shape=(2, 1, 1, 6)), False, None),
    ("float mask", f(2, 2, 4, 3), f(2, 2, 6, 3), f(2, 2, 6, 4), f(2, 1, 4, 6), False, None),
    ("float mask with -inf and a fully masked row", f(1, 2, 5, 3), f(1, 2, 4, 3), f(1, 2, 4, 3),
     neg_inf_mask((5, 4), full_row=3), False, None),
    ("causal L = S", f(2, 2, 5, 3), f(2, 2, 5, 3), f(2, 2, 5, 3), None, True, None),
    ("causal L > S", f(1, 2, 6, 3), f(1, 2, 4, 3), f(1, 2, 4, 2), None, True, None),
    ("causal L < S", f(1, 2, 3, 3), f(1, 2, 7, 3), f(1, 2, 7, 2), None, True, None),
    ("T = 1", f(2, 1, 4), f(2, 1, 4), f(2, 1, 4), None, True, None),
    ("broadcast batch", f(2, 3, 4, 4), f(3, 5, 4), f(1, 3, 5, 2), None, False, None),
    ("causal, blocks crossed (L = S = 150)", f(1, 1, 150, 4), f(1, 1, 150, 4), f(1, 1, 150, 4), None, True, None),
    ("bool mask, L = 70, S = 140", f(1, 1, 70, 4), f(1, 1, 140, 4), f(1, 1, 140, 4),
     bool_mask(70, 140, pad_rows=(3, 65)), False, None),
]


def encode(t):
    if t.dtype == torch.bool:
        return {"dtype": "bool", "shape": list(t.shape), "values": t.flatten().tolist()}
    return {"dtype": "float64", "shape": list(t.shape), "values": t.double().flatten().tolist()}


def main():
    out = []
    for name, q, k, v, mask, causal, scale in CASES:
        neg_inf = None
        if isinstance(mask, tuple):
            mask, neg_inf = mask
        leaves = [t.clone().requires_grad_(True) for t in (q, k, v)]
        m = None
        if mask is not None:
            m = mask.clone()
            if m.dtype == DT and neg_inf is None:
                m.requires_grad_(True)
        y = F.scaled_dot_product_attention(*leaves, attn_mask=m, is_causal=causal, scale=scale)
        w = torch.randn(y.shape, dtype=DT)
        (y * w).sum().backward()
        case = {"name": name, "q": encode(q), "k": encode(k), "v": encode(v), "is_causal": causal, "scale": scale,
                "out": encode(y.detach()), "weight": encode(w), "grads": [encode(t.grad) for t in leaves]}
        if mask is not None:
            case["mask"] = encode(mask if neg_inf is None else mask.masked_fill(neg_inf, 0.0))
            if neg_inf is not None:
                case["mask_neg_inf"] = encode(neg_inf)
            if m.requires_grad:
                case["mask_grad"] = encode(m.grad)
        out.append(case)
    path = pathlib.Path(__file__).resolve().parent.parent / "tests" / "data" / "attention_reference.json"
    path.write_text(json.dumps({"torch": torch.__version__, "cases": out}, separators=(",", ":")) + "\n")
    print(f"wrote {path}: {len(out)} cases from torch {torch.__version__}")


if __name__ == "__main__":
    main()
