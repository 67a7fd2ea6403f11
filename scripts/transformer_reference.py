#!/usr/bin/env python3
"""Writes tests/data/transformer_reference.json: PyTorch's float64 outputs and gradients of
torch.nn.MultiheadAttention, TransformerEncoderLayer, TransformerEncoder and TransformerDecoderLayer
(random parameters, dropout 0, eval mode) for tests/nn_transformer_test.cpp, which loads each
state_dict by PyTorch's names into nabla's module and compares to 1e-12.

Each case: the module kind and constructor parameters (the C++ test maps both to nabla), the forward
options, the state_dict, the float inputs and the masks (bool or float), the outputs, a fixed weight
w_k per output and the gradients of Σ_k sum(output_k · w_k) for every float input and parameter.

    ~/.cache/nabla/reference-env/bin/python scripts/transformer_reference.py
"""
import json
import pathlib

import torch
import torch.nn as nn

torch.manual_seed(20261204)
DT = torch.float64


def randomize(m):
    with torch.no_grad():
        for name, p in m.named_parameters():
            is_norm_weight = name.endswith("weight") and p.dim() == 1
            p.copy_(torch.randn_like(p) * 0.5 + (1.0 if is_norm_weight else 0.0))
    return m.to(DT).eval()


def f(*shape):
    return torch.randn(shape, dtype=DT)


def causal(n):
    return nn.Transformer.generate_square_subsequent_mask(n, dtype=DT)


def encode(t):
    if t.dtype == torch.bool:
        return {"dtype": "bool", "shape": list(t.shape), "values": t.flatten().tolist()}
    return {"dtype": "float64", "shape": list(t.shape), "values": t.double().flatten().tolist()}


def encode_mask(t):
    """A mask: bool, or float64 whose −inf entries are written "-inf" (JSON has no infinity)."""
    e = encode(t)
    if e["dtype"] == "float64":
        e["values"] = ["-inf" if v == float("-inf") else v for v in e["values"]]
    return e


def kpm(n, s, lengths):
    m = torch.zeros(n, s, dtype=torch.bool)
    for i, length in enumerate(lengths):
        m[i, length:] = True
    return m


def mha_cases():
    out = []
    E, H = 6, 2
    for batch_first in (False, True):
        for need_weights in (True, False):
            def qkv(L, S, N=2, kd=E, vd=E):
                if batch_first:
                    return [f(N, L, E), f(N, S, kd), f(N, S, vd)]
                return [f(L, N, E), f(S, N, kd), f(S, N, vd)]
            bf = {"batch_first": batch_first}
            # (constructor, forward options, inputs, masks)
            out += [
                ({"E": E, "H": H, **bf}, {"need_weights": need_weights}, qkv(4, 5), {}),
                ({"E": E, "H": H, **bf}, {"need_weights": need_weights}, qkv(1, 1), {}),
                ({"E": E, "H": 3, **bf}, {"need_weights": need_weights, "average_attn_weights": False}, qkv(3, 4), {}),
                ({"E": E, "H": H, **bf}, {"need_weights": need_weights},
                 qkv(4, 5), {"attn_mask": (torch.rand(4, 5) < 0.3) & torch.ones(4, 5, dtype=torch.bool).triu(1)}),
                ({"E": E, "H": H, **bf}, {"need_weights": need_weights}, qkv(4, 4), {"attn_mask": f(4, 4)}),
                ({"E": E, "H": H, **bf}, {"need_weights": need_weights}, qkv(3, 5),
                 {"attn_mask": f(2 * H, 3, 5), "key_padding_mask": kpm(2, 5, [5, 3])}),
                ({"E": E, "H": H, **bf}, {"need_weights": need_weights}, qkv(3, 5), {"key_padding_mask": kpm(2, 5, [2, 4])}),
                ({"E": E, "H": H, **bf}, {"need_weights": need_weights, "is_causal": True}, qkv(4, 4),
                 {"attn_mask": causal(4)}),
                ({"E": E, "H": H, **bf}, {"need_weights": need_weights, "is_causal": True}, qkv(4, 4),
                 {"attn_mask": causal(4), "key_padding_mask": kpm(2, 4, [4, 3])}),
                ({"E": E, "H": H, "kdim": 4, "vdim": 3, **bf}, {"need_weights": need_weights}, qkv(3, 4, kd=4, vd=3),
                 {"key_padding_mask": kpm(2, 4, [4, 2])}),
                ({"E": E, "H": H, "bias": False, **bf}, {"need_weights": need_weights}, qkv(2, 3), {}),
            ]
    # Unbatched.
    out.append(({"E": E, "H": H}, {"need_weights": True}, [f(3, E), f(4, E), f(4, E)],
                {"key_padding_mask": torch.tensor([False, False, True, False])}))
    out.append(({"E": E, "H": H}, {"need_weights": False}, [f(3, E), f(4, E), f(4, E)], {"attn_mask": f(3, 4)}))
    cases = []
    for params, fwd, inputs, masks in out:
        m = randomize(nn.MultiheadAttention(params["E"], params["H"], bias=params.get("bias", True),
                                            kdim=params.get("kdim"), vdim=params.get("vdim"),
                                            batch_first=params.get("batch_first", False)))
        def run(q, k, v, m=m, fwd=fwd, masks=masks):
            o, w = m(q, k, v, key_padding_mask=masks.get("key_padding_mask"), attn_mask=masks.get("attn_mask"),
                     need_weights=fwd["need_weights"], average_attn_weights=fwd.get("average_attn_weights", True),
                     is_causal=fwd.get("is_causal", False))
            return [o] if w is None else [o, w]
        cases.append(case("MultiheadAttention", params, fwd, m, inputs, masks, run))
    return cases


def encoder_cases():
    cases = []
    d, h, ff = 8, 2, 12
    for norm_first in (False, True):
        for activation in ("relu", "gelu"):
            for batch_first in (False, True):
                params = {"d_model": d, "nhead": h, "ff": ff, "activation": activation, "norm_first": norm_first,
                          "batch_first": batch_first}
                src = f(2, 5, d) if batch_first else f(5, 2, d)
                for masks, fwd in (({}, {}),
                                   ({"mask": causal(5), "key_padding_mask": kpm(2, 5, [5, 3])}, {"is_causal": True}),
                                   ({"mask": (torch.rand(5, 5) < 0.3) & torch.ones(5, 5, dtype=torch.bool).triu(1)}, {})):
                    m = randomize(nn.TransformerEncoderLayer(d, h, ff, dropout=0.0, activation=activation,
                                                             batch_first=batch_first, norm_first=norm_first))
                    def run(x, m=m, masks=masks, fwd=fwd):
                        return [m(x, src_mask=masks.get("mask"), src_key_padding_mask=masks.get("key_padding_mask"),
                                  is_causal=fwd.get("is_causal", False))]
                    cases.append(case("TransformerEncoderLayer", params, fwd, m, [src], masks, run))
    # A stack of two with a final norm.
    params = {"d_model": d, "nhead": h, "ff": ff, "activation": "gelu", "norm_first": True, "batch_first": True, "layers": 2}
    layer = nn.TransformerEncoderLayer(d, h, ff, dropout=0.0, activation="gelu", batch_first=True, norm_first=True)
    m = randomize(nn.TransformerEncoder(layer, 2, norm=nn.LayerNorm(d), enable_nested_tensor=False))
    masks = {"mask": causal(4), "key_padding_mask": kpm(3, 4, [4, 2, 3])}
    cases.append(case("TransformerEncoder", params, {"is_causal": True}, m, [f(3, 4, d)], masks,
                      lambda x: [m(x, mask=masks["mask"], src_key_padding_mask=masks["key_padding_mask"], is_causal=True)]))
    return cases


def decoder_cases():
    cases = []
    d, h, ff = 8, 2, 12
    for norm_first in (False, True):
        for batch_first in (False, True):
            params = {"d_model": d, "nhead": h, "ff": ff, "activation": "relu", "norm_first": norm_first,
                      "batch_first": batch_first}
            tgt, mem = (f(2, 4, d), f(2, 6, d)) if batch_first else (f(4, 2, d), f(6, 2, d))
            masks = {"tgt_mask": causal(4), "memory_key_padding_mask": kpm(2, 6, [6, 4]),
                     "tgt_key_padding_mask": kpm(2, 4, [4, 3])}
            m = randomize(nn.TransformerDecoderLayer(d, h, ff, dropout=0.0, batch_first=batch_first, norm_first=norm_first))
            def run(t, mm, m=m, masks=masks):
                return [m(t, mm, tgt_mask=masks["tgt_mask"], tgt_key_padding_mask=masks["tgt_key_padding_mask"],
                          memory_key_padding_mask=masks["memory_key_padding_mask"], tgt_is_causal=True)]
            cases.append(case("TransformerDecoderLayer", params, {"tgt_is_causal": True}, m, [tgt, mem], masks, run))
    return cases


def case(kind, params, fwd, m, inputs, masks, run):
    state = {k: encode(v) for k, v in m.state_dict().items()}
    leaves = [t.clone().requires_grad_(True) for t in inputs]
    ys = run(*leaves)
    ws = [torch.randn(t.shape, dtype=DT) for t in ys]
    sum((t * w).sum() for t, w in zip(ys, ws)).backward()
    return {
        "module": kind, "params": params, "forward": fwd, "state": state,
        "inputs": [encode(t) for t in inputs], "masks": {k: encode_mask(v) for k, v in masks.items()},
        "outputs": [encode(t.detach()) for t in ys], "weights": [encode(w) for w in ws],
        "input_grads": [encode(t.grad) for t in leaves],
        "param_grads": {k: encode(p.grad) for k, p in m.named_parameters()},
    }


def main():
    cases = mha_cases() + encoder_cases() + decoder_cases()
    path = pathlib.Path(__file__).resolve().parent.parent / "tests" / "data" / "transformer_reference.json"
    path.write_text(json.dumps({"torch": torch.__version__, "cases": cases}, separators=(",", ":")) + "\n")
    print(f"wrote {path}: {len(cases)} cases from torch {torch.__version__}")


if __name__ == "__main__":
    main()
