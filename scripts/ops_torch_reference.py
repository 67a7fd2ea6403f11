#!/usr/bin/env python3
"""Writes tests/data/ops_reference.json: PyTorch's float64 values and gradients of interpolate (every
mode, bicubic and area included), Tensor indexing (x[...]: ints, slices, None, Ellipsis, one int64 or
bool tensor), unfold, fold, pad (reflect, replicate, circular, constant), max_pool2d / avg_pool2d with padding,
dilation, ceil_mode, count_include_pad and divisor_override, and max_pool1d / avg_pool1d, for
tests/ops/torch_ops_reference_test.cpp, which runs the same calls in nabla and compares to 1e-12.

Each case: the function, its keyword arguments as PyTorch takes them, the input, the output (and the
indices for max_pool2d with return_indices), a fixed weight w and the gradient of sum(output · w):
PyTorch's, checked against Jᵀw from PyTorch's own forward (the ops are linear in x); where the two
differ (nearest with a scale_factor that keeps the size: PyTorch's backward takes it as the identity,
its forward does not) the case holds Jᵀw and is marked "torch_backward_differs".

    ~/.cache/nabla/reference-env/bin/python scripts/ops_torch_reference.py
"""
import json
import pathlib

import torch
import torch.nn.functional as F

torch.manual_seed(20261204)
DT = torch.float64


def encode(t):
    if t.dtype == torch.int64:
        return {"dtype": "int64", "shape": list(t.shape), "values": t.flatten().tolist()}
    return {"dtype": "float64", "shape": list(t.shape), "values": t.detach().double().flatten().tolist()}


def f(*shape):
    return torch.randn(shape, dtype=DT)


cases = []


def index(x, index):
    """x[...] for an index spec as the fixture stores it: ints, "None", "...", {"slice": [start, stop,
    step]} (null for open ends) and {"tensor": values, "shape": shape, "dtype": "int64" | "bool"}."""
    key = []
    for e in index:
        if e == "None":
            key.append(None)
        elif e == "...":
            key.append(Ellipsis)
        elif isinstance(e, dict) and "slice" in e:
            key.append(slice(*e["slice"]))
        elif isinstance(e, dict):
            dt = torch.bool if e["dtype"] == "bool" else torch.int64
            key.append(torch.tensor(e["tensor"], dtype=dt).reshape(e["shape"]))
        else:
            key.append(e)
    return x[tuple(key)]


def ix_tensor(values, shape, dtype="int64"):
    return {"tensor": values, "shape": shape, "dtype": dtype}


def case(fn, x, **kw):
    x = x.clone().requires_grad_(True)
    call = {
        "interpolate": F.interpolate, "unfold": F.unfold, "fold": F.fold, "pad": F.pad,
        "max_pool2d": F.max_pool2d, "avg_pool2d": F.avg_pool2d, "max_pool1d": F.max_pool1d,
        "avg_pool1d": F.avg_pool1d, "index": index,
    }[fn]
    out = call(x, **kw)
    entry = {"fn": fn, "kwargs": kw, "input": encode(x)}
    if fn == "max_pool2d":
        _, idx = F.max_pool2d(x.detach(), **kw, return_indices=True)
        entry["indices"] = encode(idx)
    w = torch.randn_like(out)
    (out * w).sum().backward()
    grad = x.grad
    # Every op here is linear in x, so its gradient is Jᵀw with J's columns the forward of basis inputs.
    # Where PyTorch's backward is not that (its nearest backward takes output size = input size as the
    # identity, while its forward samples ⌊i / scale_factor⌋), the fixture holds Jᵀw and says so.
    if fn != "max_pool2d" and fn != "max_pool1d":
        basis = torch.eye(x.numel(), dtype=DT).reshape(x.numel(), *x.shape)
        with torch.no_grad():
            at_zero = call(torch.zeros_like(x), **kw)  # constant padding is affine: its value is not in J
            jt_w = torch.stack([((call(b, **kw) - at_zero) * w).sum() for b in basis]).reshape(x.shape)
        if not torch.allclose(jt_w, grad, rtol=0, atol=1e-12):
            entry["torch_backward_differs"] = True
            entry["torch_grad"] = encode(grad)
            grad = jt_w
    entry.update({"output": encode(out), "weight": encode(w), "grad": encode(grad)})
    cases.append(entry)


# ---- interpolate ---------------------------------------------------------------------------------------
for n, size in [(5, 9), (6, 3), (4, 4), (7, 1), (1, 4)]:
    case("interpolate", f(1, 2, n), size=size, mode="nearest")
    case("interpolate", f(1, 2, n), size=size, mode="nearest-exact")
    for ac in (False, True):
        case("interpolate", f(1, 2, n), size=size, mode="linear", align_corners=ac)
for n, sf in [(5, 2.0), (5, 1.5), (6, 0.5), (5, 1.1), (7, 0.7), (3, 3.0)]:
    case("interpolate", f(2, 2, n), scale_factor=sf, mode="nearest")
    case("interpolate", f(2, 2, n), scale_factor=sf, mode="nearest-exact")
    case("interpolate", f(2, 2, n), scale_factor=sf, mode="linear", align_corners=False)
    case("interpolate", f(2, 2, n), scale_factor=sf, mode="linear", align_corners=True)
    case("interpolate", f(2, 2, n), scale_factor=sf, mode="linear", recompute_scale_factor=True)
for hw, size in [((4, 5), (7, 9)), ((6, 6), (3, 4)), ((3, 4), (3, 8)), ((5, 3), (1, 1))]:
    case("interpolate", f(2, 2, *hw), size=list(size), mode="nearest")
    case("interpolate", f(2, 2, *hw), size=list(size), mode="nearest-exact")
    for ac in (False, True):
        case("interpolate", f(2, 2, *hw), size=list(size), mode="bilinear", align_corners=ac)
for hw, sf in [((4, 5), 2.0), ((4, 5), [1.5, 2.5]), ((6, 7), 0.6), ((3, 3), [3.0, 0.8])]:
    case("interpolate", f(1, 3, *hw), scale_factor=sf, mode="nearest")
    for ac in (False, True):
        case("interpolate", f(1, 3, *hw), scale_factor=sf, mode="bilinear", align_corners=ac)
case("interpolate", f(1, 2, 3, 4, 5), size=[5, 3, 7], mode="trilinear", align_corners=False)
case("interpolate", f(1, 2, 3, 4, 5), size=[5, 3, 7], mode="trilinear", align_corners=True)
case("interpolate", f(1, 2, 3, 4, 5), scale_factor=[2.0, 1.5, 0.5], mode="trilinear")
case("interpolate", f(1, 2, 3, 4, 5), size=[6, 2, 5], mode="nearest")

# ---- unfold / fold ---------------------------------------------------------------------------------------
unfold_opts = [
    dict(kernel_size=2),
    dict(kernel_size=3, padding=1),
    dict(kernel_size=(2, 3), stride=(2, 1)),
    dict(kernel_size=3, dilation=2, padding=2, stride=2),
    dict(kernel_size=(3, 2), dilation=(1, 2), padding=(0, 1), stride=(1, 3)),
    dict(kernel_size=1),
    dict(kernel_size=4, padding=3, stride=3),
]
for kw in unfold_opts:
    case("unfold", f(2, 2, 5, 6), **kw)
case("unfold", f(3, 5, 5), kernel_size=2, stride=1)  # unbatched
for kw in unfold_opts:
    xs = f(1, 2, 5, 6)
    cols = F.unfold(xs, **kw)
    case("fold", f(2, cols.shape[1], cols.shape[2]), output_size=(5, 6), **kw)
case("fold", f(3 * 4, 16), output_size=5, kernel_size=2, stride=1)  # unbatched

# ---- pad ---------------------------------------------------------------------------------------------------
for mode in ("reflect", "replicate", "circular"):
    case("pad", f(3, 6), pad=[2, 1], mode=mode)
    case("pad", f(2, 3, 6), pad=[0, 3], mode=mode)
    case("pad", f(2, 5, 6), pad=[1, 2, 3, 0], mode=mode)
    case("pad", f(1, 2, 5, 6), pad=[2, 2, 1, 4], mode=mode)
    case("pad", f(2, 4, 5, 6), pad=[1, 0, 2, 1, 3, 2], mode=mode)
    case("pad", f(1, 2, 3, 4, 5), pad=[1, 2, 1, 2, 1, 2], mode=mode)
case("pad", f(2, 3, 5, 6), pad=[5, 6, 4, 5], mode="circular")
case("pad", f(2, 3, 5, 6), pad=[1, 2, 0, 3], mode="constant", value=1.5)

# ---- pooling -------------------------------------------------------------------------------------------------
max_opts = [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=2, stride=2, padding=1, ceil_mode=True),
    dict(kernel_size=3, stride=2, ceil_mode=True),
    dict(kernel_size=3, stride=3, padding=1, ceil_mode=True),
    dict(kernel_size=2, stride=1, dilation=2),
    dict(kernel_size=3, stride=2, padding=1, dilation=2, ceil_mode=True),
    dict(kernel_size=(2, 3), stride=(1, 2), padding=(1, 1)),
    dict(kernel_size=(3, 2), stride=(2, 3), padding=(1, 0), dilation=(1, 2), ceil_mode=True),
]
for kw in max_opts:
    case("max_pool2d", f(1, 2, 7, 8), **kw)
case("max_pool2d", f(3, 5, 5), kernel_size=2, stride=2, ceil_mode=True)  # unbatched
case("max_pool2d", f(1, 2, 5, 5), kernel_size=2, stride=2, padding=1, ceil_mode=True)  # last window rule
avg_opts = [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=3, stride=2, padding=1, count_include_pad=False),
    dict(kernel_size=2, stride=2, padding=1, ceil_mode=True),
    dict(kernel_size=2, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
    dict(kernel_size=3, stride=2, ceil_mode=True),
    dict(kernel_size=3, stride=2, ceil_mode=True, count_include_pad=False),
    dict(kernel_size=3, stride=3, padding=1, ceil_mode=True),
    dict(kernel_size=(2, 3), stride=(1, 2), padding=(1, 1), divisor_override=5),
    dict(kernel_size=(3, 2), stride=(2, 3), padding=(1, 0), ceil_mode=True, count_include_pad=False),
]
for kw in avg_opts:
    case("avg_pool2d", f(1, 2, 7, 8), **kw)
case("avg_pool2d", f(3, 5, 5), kernel_size=2, stride=2, ceil_mode=True)  # unbatched
for kw in [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1), dict(kernel_size=2, stride=2, ceil_mode=True),
           dict(kernel_size=3, stride=1, dilation=2, padding=1)]:
    case("max_pool1d", f(2, 3, 9), **kw)
for kw in [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1), dict(kernel_size=2, stride=2, ceil_mode=True),
           dict(kernel_size=3, stride=2, padding=1, count_include_pad=False)]:
    case("avg_pool1d", f(2, 3, 9), **kw)

# ---- interpolate: bicubic (A = -0.75) and area (adaptive average pooling) --------------------------------
# (after every case above, so that their random draws stay as they were)
for hw, size in [((4, 5), (7, 9)), ((6, 6), (3, 4)), ((3, 4), (3, 8)), ((5, 3), (1, 1)), ((2, 2), (5, 3)),
                 ((1, 3), (4, 4)), ((8, 7), (3, 2))]:
    for ac in (False, True):
        case("interpolate", f(2, 2, *hw), size=list(size), mode="bicubic", align_corners=ac)
for hw, sf in [((4, 5), 2.0), ((4, 5), [1.5, 2.5]), ((6, 7), 0.6), ((3, 3), [3.0, 0.8]), ((5, 5), 1.1)]:
    for ac in (False, True):
        case("interpolate", f(1, 3, *hw), scale_factor=sf, mode="bicubic", align_corners=ac)
case("interpolate", f(1, 2, 4, 5), scale_factor=[1.5, 0.7], mode="bicubic", recompute_scale_factor=True)
case("interpolate", f(1, 2, 7), size=3, mode="area")
case("interpolate", f(2, 2, 5), size=5, mode="area")
case("interpolate", f(2, 2, 5), size=8, mode="area")
case("interpolate", f(2, 1, 9), scale_factor=0.5, mode="area")
case("interpolate", f(2, 2, 7, 9), size=[3, 4], mode="area")
case("interpolate", f(1, 2, 6, 6), size=[2, 3], mode="area")
case("interpolate", f(1, 1, 4, 5), size=[8, 7], mode="area")
case("interpolate", f(1, 2, 5, 7), size=[1, 1], mode="area")
case("interpolate", f(1, 2, 6, 7), scale_factor=[0.5, 0.7], mode="area")
case("interpolate", f(1, 2, 4, 5, 6), size=[2, 3, 4], mode="area")
case("interpolate", f(1, 1, 3, 4, 5), scale_factor=[2.0, 0.5, 1.5], mode="area")

# ---- Tensor::index / operator[] (libtorch's basic indexing; Python's x[...]) ---------------------------------
for spec in [
    [2], [-1], [0, 1], [-2, -3, -4], [4, 2, 3],
    [{"slice": [1, None, None]}], [{"slice": [None, None, 2]}], [{"slice": [-3, None, None]}],
    [{"slice": [1, 100, 3]}], [{"slice": [4, 1, None]}], [{"slice": [-100, 2, None]}],
    ["...", 1], ["None", 0], [0, "None", {"slice": [0, 2, None]}], ["...", "None"], [1, "...", {"slice": [None, 2, None]}],
    [{"slice": [None, None, None]}, -1, {"slice": [1, 3, None]}], ["None", "...", "None"],
    [ix_tensor([3, -1, 0, 3], [4])], [ix_tensor([1, -1, 1, 0], [2, 2])],
    [{"slice": [1, None, None]}, ix_tensor([2, 0, 2], [3])], [0, {"slice": [None, None, None]}, ix_tensor([1, 3], [2])],
    ["...", ix_tensor([-1, 0], [2])], [ix_tensor([2], [])],
    [ix_tensor([True, False, True, True, False], [5], "bool")],
    [ix_tensor([i % 3 == 1 for i in range(15)], [5, 3], "bool")],
    [0, ix_tensor([False, True, True], [3], "bool")],
    [{"slice": [None, 3, None]}, "...", ix_tensor([False, False, False, False], [4], "bool")],
]:
    case("index", f(5, 3, 4), index=spec)

out = pathlib.Path(__file__).resolve().parent.parent / "tests" / "data" / "ops_reference.json"
out.write_text(json.dumps({"torch": torch.__version__, "cases": cases}, separators=(",", ":")) + "\n")
differs = [c["kwargs"] for c in cases if c.get("torch_backward_differs")]
print(f"{len(cases)} cases -> {out}; PyTorch's backward is not the adjoint of its forward in {len(differs)}: {differs}")
