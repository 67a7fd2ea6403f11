#!/usr/bin/env python3
"""Writes tests/data/loss_reference.json: PyTorch's float64 values and gradients of the losses of
torch.nn.functional (mse_loss, l1_loss, smooth_l1_loss, huber_loss, kl_div, binary_cross_entropy,
binary_cross_entropy_with_logits, nll_loss, cross_entropy) over the option combinations that change
the result, for tests/losses_test.cpp, which calls nabla's functional loss and its nn:: module with the
same options and compares to 1e-12.

Each case: the loss, its options (weight / pos_weight tensors, ignore_index, reduction, beta, delta,
log_target, label_smoothing), input and target, the output, and the gradients of sum(output · w) (w a
fixed tensor of the output's shape, 1 for a scalar) for every float input listed in "grad_of".

    ~/.cache/nabla/reference-env/bin/python scripts/loss_reference.py
"""
import json
import pathlib

import torch
import torch.nn.functional as F

torch.manual_seed(20261204)
DT = torch.float64
REDUCTIONS = ["none", "mean", "sum"]


def encode(t):
    if t.dtype == torch.int64:
        return {"dtype": "int64", "shape": list(t.shape), "values": t.flatten().tolist()}
    return {"dtype": "float64", "shape": list(t.shape), "values": t.double().flatten().tolist()}


def f(*shape):
    return torch.randn(shape, dtype=DT)


def case(loss, fn, opts, inputs, grad_of, tensors=None):
    """inputs: dict name → tensor (input, target); opts: JSON options; tensors: option tensors."""
    leaves = {k: (v.clone().requires_grad_(k in grad_of) if v.is_floating_point() else v) for k, v in inputs.items()}
    out = fn(leaves["input"], leaves["target"])
    w = f(*out.shape) if out.dim() > 0 else torch.ones((), dtype=DT)
    if grad_of:
        (out * w).sum().backward()
    return {
        "loss": loss,
        "options": opts,
        "option_tensors": {k: encode(v) for k, v in (tensors or {}).items()},
        "input": encode(inputs["input"]),
        "target": encode(inputs["target"]),
        "output": encode(out.detach()),
        "w": encode(w),
        "grad_of": grad_of,
        "grads": {k: encode(leaves[k].grad) for k in grad_of},
    }


def regression_cases():
    cases = []
    for r in REDUCTIONS:
        x, y = f(4, 5), f(4, 5)
        y[0, 0] = x[0, 0] + 0.25  # a small difference, inside beta / delta
        both = ["input", "target"]
        cases.append(case("mse_loss", lambda a, b, r=r: F.mse_loss(a, b, reduction=r), {"reduction": r},
                          {"input": x, "target": y}, both))
        cases.append(case("l1_loss", lambda a, b, r=r: F.l1_loss(a, b, reduction=r), {"reduction": r},
                          {"input": x, "target": y}, both))
        for beta in [1.0, 0.5, 0.0, 2.5]:
            cases.append(case("smooth_l1_loss", lambda a, b, r=r, beta=beta: F.smooth_l1_loss(a, b, reduction=r, beta=beta),
                              {"reduction": r, "beta": beta}, {"input": x, "target": y}, both))
        for delta in [1.0, 0.3, 2.0]:
            cases.append(case("huber_loss", lambda a, b, r=r, d=delta: F.huber_loss(a, b, reduction=r, delta=d),
                              {"reduction": r, "delta": delta}, {"input": x, "target": y}, both))
    # 3-d and 0-d inputs
    x, y = f(2, 3, 4), f(2, 3, 4)
    cases.append(case("mse_loss", lambda a, b: F.mse_loss(a, b), {}, {"input": x, "target": y}, ["input", "target"]))
    x, y = f(), f()
    cases.append(case("smooth_l1_loss", lambda a, b: F.smooth_l1_loss(a, b, beta=0.5), {"beta": 0.5},
                      {"input": x, "target": y}, ["input", "target"]))
    return cases


def kl_cases():
    cases = []
    for log_target in [False, True]:
        for r in REDUCTIONS + ["batchmean"]:
            x = torch.log_softmax(f(4, 6), 1)
            y = torch.softmax(f(4, 6), 1)
            if log_target:
                y = torch.log(y)
            cases.append(case("kl_div", lambda a, b, r=r, lt=log_target: F.kl_div(a, b, reduction=r, log_target=lt),
                              {"reduction": r, "log_target": log_target}, {"input": x, "target": y},
                              ["input", "target"]))
    # a zero target (0 · log 0 = 0): values and the input's gradient
    x = torch.log_softmax(f(3, 4), 1)
    y = torch.softmax(f(3, 4), 1)
    y[1, 2] = 0.0
    for r in ["none", "batchmean"]:
        cases.append(case("kl_div", lambda a, b, r=r: F.kl_div(a, b, reduction=r), {"reduction": r},
                          {"input": x, "target": y}, ["input"]))
    return cases


def bce_cases():
    cases = []
    for r in REDUCTIONS:
        for wshape in [None, (3,), (4, 3), (4, 1)]:
            for hard in [False, True]:
                x = torch.sigmoid(f(4, 3) * 2)
                y = (torch.rand(4, 3, dtype=DT) > 0.5).to(DT) if hard else torch.rand(4, 3, dtype=DT)
                wt = torch.rand(*wshape, dtype=DT) + 0.5 if wshape else None
                opts = {"reduction": r}
                tensors = {"weight": wt} if wt is not None else {}
                cases.append(case("binary_cross_entropy",
                                  lambda a, b, r=r, wt=wt: F.binary_cross_entropy(a, b, weight=wt, reduction=r), opts,
                                  {"input": x, "target": y}, ["input", "target"], tensors))
    # BCE with logits: weight, pos_weight, a logit exactly 0 and large ones
    for r in REDUCTIONS:
        for wshape in [None, (3,)]:
            for pw in [None, (3,), (4, 3)]:
                x = f(4, 3) * 3
                x[0, 0] = 0.0
                x[1, 1] = 40.0
                x[2, 2] = -40.0
                y = torch.rand(4, 3, dtype=DT)
                y[3, 0] = 1.0
                y[3, 1] = 0.0
                wt = torch.rand(*wshape, dtype=DT) + 0.5 if wshape else None
                pwt = torch.rand(*pw, dtype=DT) * 3 + 0.2 if pw else None
                tensors = {}
                if wt is not None:
                    tensors["weight"] = wt
                if pwt is not None:
                    tensors["pos_weight"] = pwt
                cases.append(case("binary_cross_entropy_with_logits",
                                  lambda a, b, r=r, wt=wt, pwt=pwt: F.binary_cross_entropy_with_logits(
                                      a, b, weight=wt, reduction=r, pos_weight=pwt),
                                  {"reduction": r}, {"input": x, "target": y}, ["input", "target"], tensors))
    return cases


def classification_cases():
    cases = []
    shapes = [((6, 4), (6,)), ((3, 4, 2, 3), (3, 2, 3)), ((2, 5, 7), (2, 7)), ((4,), ())]
    for xs, ts in shapes:
        C = xs[0] if len(xs) == 1 else xs[1]
        for r in REDUCTIONS:
            for weighted in [False, True]:
                for ignore in [-100, 1]:
                    z = f(*xs)
                    t = torch.randint(0, C, ts)
                    if ignore != -100 and t.dim() > 0:
                        t.view(-1)[0] = ignore  # at least one ignored target
                        t.view(-1)[-1] = ignore
                    elif ignore != -100 and t.item() == ignore:
                        t.fill_((ignore + 1) % C)  # one target, not ignored (all ignored is NaN: losses_test.cpp)
                    wt = torch.rand(C, dtype=DT) + 0.5 if weighted else None
                    tensors = {"weight": wt} if weighted else {}
                    lp = torch.log_softmax(z, 0 if len(xs) == 1 else 1)
                    opts = {"reduction": r, "ignore_index": ignore}
                    cases.append(case("nll_loss",
                                      lambda a, b, r=r, wt=wt, ig=ignore: F.nll_loss(a, b, weight=wt, ignore_index=ig,
                                                                                    reduction=r),
                                      opts, {"input": lp, "target": t}, ["input"], tensors))
                    for ls in [0.0, 0.2]:
                        o = dict(opts, label_smoothing=ls)
                        cases.append(case("cross_entropy",
                                          lambda a, b, r=r, wt=wt, ig=ignore, ls=ls: F.cross_entropy(
                                              a, b, weight=wt, ignore_index=ig, reduction=r, label_smoothing=ls),
                                          o, {"input": z, "target": t}, ["input"], tensors))
    # class-probability targets
    for xs in [(5, 4), (2, 3, 4)]:
        for r in REDUCTIONS:
            for weighted in [False, True]:
                for ls in [0.0, 0.3]:
                    z = f(*xs)
                    y = torch.softmax(f(*xs), 1)
                    wt = torch.rand(xs[1], dtype=DT) + 0.5 if weighted else None
                    tensors = {"weight": wt} if weighted else {}
                    cases.append(case("cross_entropy",
                                      lambda a, b, r=r, wt=wt, ls=ls: F.cross_entropy(a, b, weight=wt, reduction=r,
                                                                                     label_smoothing=ls),
                                      {"reduction": r, "label_smoothing": ls}, {"input": z, "target": y},
                                      ["input", "target"], tensors))
    return cases


def main():
    cases = regression_cases() + kl_cases() + bce_cases() + classification_cases()
    path = pathlib.Path(__file__).resolve().parent.parent / "tests" / "data" / "loss_reference.json"
    path.write_text(json.dumps({"torch": torch.__version__, "cases": cases}, separators=(",", ":")) + "\n")
    print(f"{len(cases)} cases → {path}")


if __name__ == "__main__":
    main()
