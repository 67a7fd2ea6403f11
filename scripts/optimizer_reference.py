#!/usr/bin/env python3
"""The parameter values after three steps of each optimizer on fixed gradients, by PyTorch (the
independent reference for tests/optimizers_test.cpp, whose literals are these numbers):
  bash scripts/reference-python.sh scripts/optimizer_reference.py   (PyTorch: the reference environment's, else Debian's)
"""
import torch
torch.set_default_dtype(torch.float64)
grads = [[0.5, -1.0, 2.0], [-0.25, 0.75, 1.5], [1.0, 0.5, -0.5]]
def run(make, decay_mask=(True, True, True)):
    w = torch.tensor([1.0, -2.0, 0.5], requires_grad=True)
    opt = make([w])
    out = []
    for g in grads:
        w.grad = torch.tensor(g)
        opt.step()
        out.append(w.detach().tolist())
    return out
cases = {
 "adam": lambda p: torch.optim.Adam(p, lr=0.1, betas=(0.9, 0.999), eps=1e-8),
 "adam_wd": lambda p: torch.optim.Adam(p, lr=0.1, weight_decay=0.1),
 "adamw": lambda p: torch.optim.AdamW(p, lr=0.1, weight_decay=0.1),
 "rmsprop": lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.99, eps=1e-8),
 "rmsprop_momentum": lambda p: torch.optim.RMSprop(p, lr=0.01, momentum=0.9, weight_decay=0.05),
 "adagrad": lambda p: torch.optim.Adagrad(p, lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1),
}
for k, f in cases.items():
    print(k, [[float(f"{v:.17g}") for v in step] for step in run(f)])

# ---- trajectories (tests/data/optimizer_reference.json, read by tests/optim_reference_test.cpp) --------
# Each optimizer option over many steps in float64 on f(w) = Σ ½ a (w − c)² + a4 w⁴/4, whose gradient
# a (w − c) + a4 w·w·w the test computes in the same order; the learning rate of each schedule over
# many steps (for ReduceLROnPlateau, with the metric sequence given).
import json, math, os
A = torch.tensor([1.0, 0.5, 2.0, 0.25]); C = torch.tensor([0.3, -1.0, 0.8, 2.0]); A4 = 0.05
W0 = [1.0, -2.0, 0.5, -0.75]
def grad_of(w): return A * (w - C) + A4 * (w * w * w)
def loss_of(w): return float(((0.5 * A) * (w - C) * (w - C) + (0.25 * A4) * (w * w * w * w)).sum())
def trajectory(make, steps=60, closure=False, sign=1.0):
    # sign −1: the objective is −f (for maximize, which then ascends −f, i.e. descends f)
    w = torch.tensor(W0, requires_grad=True)
    opt = make([w]); out = []
    for _ in range(steps):
        def cl():
            with torch.no_grad(): w.grad = sign * grad_of(w.detach())
            return torch.tensor(sign * loss_of(w.detach()))
        if closure: opt.step(cl)
        else: cl(); opt.step()
        out.append(w.detach().tolist())
    return out
O = torch.optim
traj_cases = {
 "sgd": ({"lr": 0.05}, lambda p: O.SGD(p, lr=0.05)),
 "sgd_momentum_dampening_wd": ({"lr": 0.05, "momentum": 0.9, "dampening": 0.3, "weight_decay": 0.1},
                               lambda p: O.SGD(p, lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.1)),
 "sgd_nesterov_maximize": ({"lr": 0.02, "momentum": 0.8, "nesterov": True, "maximize": True},
                           lambda p: O.SGD(p, lr=0.02, momentum=0.8, nesterov=True, maximize=True)),
 "adam": ({"lr": 0.05}, lambda p: O.Adam(p, lr=0.05)),
 "adam_amsgrad_wd": ({"lr": 0.05, "betas": [0.8, 0.9], "weight_decay": 0.1, "amsgrad": True},
                     lambda p: O.Adam(p, lr=0.05, betas=(0.8, 0.9), weight_decay=0.1, amsgrad=True)),
 "adam_maximize": ({"lr": 0.01, "maximize": True}, lambda p: O.Adam(p, lr=0.01, maximize=True)),
 "adamw_amsgrad": ({"lr": 0.05, "weight_decay": 0.2, "amsgrad": True}, lambda p: O.AdamW(p, lr=0.05, weight_decay=0.2, amsgrad=True)),
 "rmsprop_centered": ({"lr": 0.01, "centered": True}, lambda p: O.RMSprop(p, lr=0.01, centered=True)),
 "rmsprop_centered_momentum_wd": ({"lr": 0.01, "alpha": 0.9, "weight_decay": 0.1, "momentum": 0.5, "centered": True},
                                  lambda p: O.RMSprop(p, lr=0.01, alpha=0.9, weight_decay=0.1, momentum=0.5, centered=True)),
 "rmsprop_momentum_maximize": ({"lr": 0.001, "momentum": 0.9, "maximize": True}, lambda p: O.RMSprop(p, lr=0.001, momentum=0.9, maximize=True)),
 "adagrad": ({"lr": 0.1, "lr_decay": 0.01, "weight_decay": 0.05, "initial_accumulator_value": 0.2},
             lambda p: O.Adagrad(p, lr=0.1, lr_decay=0.01, weight_decay=0.05, initial_accumulator_value=0.2)),
 "adagrad_maximize": ({"lr": 0.01, "maximize": True}, lambda p: O.Adagrad(p, lr=0.01, maximize=True)),
}
lbfgs_cases = {
 "lbfgs": ({}, lambda p: O.LBFGS(p), 4),
 "lbfgs_small": ({"lr": 0.5, "max_iter": 3, "history_size": 2}, lambda p: O.LBFGS(p, lr=0.5, max_iter=3, history_size=2), 20),
 "lbfgs_strong_wolfe": ({"line_search_fn": "strong_wolfe"}, lambda p: O.LBFGS(p, line_search_fn="strong_wolfe"), 4),
 "lbfgs_strong_wolfe_maximize": ({"line_search_fn": "strong_wolfe", "maximize": True}, lambda p: O.LBFGS(p, line_search_fn="strong_wolfe", maximize=True), 3),
 "lbfgs_strong_wolfe_small": ({"lr": 0.8, "max_iter": 2, "history_size": 3, "line_search_fn": "strong_wolfe"},
                              lambda p: O.LBFGS(p, lr=0.8, max_iter=2, history_size=3, line_search_fn="strong_wolfe"), 15),
}
def dummy_opt(lr):
    return O.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
def lrs(lr0, make, steps, metrics=None):
    opt = dummy_opt(lr0); s = make(opt); out = []
    for k in range(steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        if metrics is None: s.step()
        else: s.step(metrics[k])
    return out
S = O.lr_scheduler
plateau_metrics = [1.0, 0.9, 0.95, 0.95, 0.96, 0.97, 0.89, 0.9, 0.9, 0.9, 0.9, 0.9, 0.5, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6]
sched_cases = {
 "linear_defaults": (0.1, {}, lambda o: S.LinearLR(o), 10, None),
 "linear": (0.1, {"start_factor": 0.25, "end_factor": 0.5, "total_iters": 8}, lambda o: S.LinearLR(o, 0.25, 0.5, 8), 12, None),
 "multistep": (0.2, {"milestones": [3, 7, 12], "gamma": 0.5}, lambda o: S.MultiStepLR(o, [3, 7, 12], 0.5), 15, None),
 "step": (0.2, {"step_size": 4, "gamma": 0.3}, lambda o: S.StepLR(o, 4, 0.3), 15, None),
 "exponential": (0.2, {"gamma": 0.9}, lambda o: S.ExponentialLR(o, 0.9), 15, None),
 "constant": (0.2, {"factor": 0.5, "total_iters": 3}, lambda o: S.ConstantLR(o, 0.5, 3), 6, None),
 "cosine": (0.1, {"T_max": 10, "eta_min": 0.01}, lambda o: S.CosineAnnealingLR(o, 10, 0.01), 11, None),
 "onecycle": (0.1, {"total_steps": 40}, lambda o: S.OneCycleLR(o, 0.1, total_steps=40, cycle_momentum=False), 40, None),
 "onecycle_linear_three_phase": (0.5, {"total_steps": 33, "pct_start": 0.25, "anneal_strategy": "linear", "div_factor": 10.0,
                                       "final_div_factor": 100.0, "three_phase": True},
                                 lambda o: S.OneCycleLR(o, 0.5, total_steps=33, pct_start=0.25, anneal_strategy="linear", div_factor=10.0,
                                                        final_div_factor=100.0, three_phase=True, cycle_momentum=False), 33, None),
 "plateau_min_rel": (0.1, {"patience": 2}, lambda o: S.ReduceLROnPlateau(o, patience=2), 20, plateau_metrics),
 "plateau_max_abs_cooldown": (0.1, {"mode": "max", "factor": 0.5, "patience": 1, "threshold": 0.02, "threshold_mode": "abs", "cooldown": 2,
                                    "min_lr": 0.02},
                              lambda o: S.ReduceLROnPlateau(o, mode="max", factor=0.5, patience=1, threshold=0.02, threshold_mode="abs",
                                                            cooldown=2, min_lr=0.02), 20, plateau_metrics),
}
out = {"a": A.tolist(), "c": C.tolist(), "a4": A4, "w0": W0, "optimizers": {}, "lbfgs": {}, "schedules": {}}
for k, (opts, make) in traj_cases.items():
    sign = -1.0 if opts.get("maximize") else 1.0
    out["optimizers"][k] = {"options": opts, "sign": sign, "w": trajectory(make, sign=sign)}
for k, (opts, make, steps) in lbfgs_cases.items():
    sign = -1.0 if opts.get("maximize") else 1.0
    out["lbfgs"][k] = {"options": opts, "sign": sign, "w": trajectory(make, steps, closure=True, sign=sign)}
for k, (lr0, opts, make, steps, metrics) in sched_cases.items():
    out["schedules"][k] = {"lr0": lr0, "options": opts, "metrics": metrics, "lr": lrs(lr0, make, steps, metrics)}
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "optimizer_reference.json")
with open(path, "w") as f: json.dump(out, f, indent=0, allow_nan=False)
print("wrote", path, len(traj_cases) + len(lbfgs_cases), "optimizer cases,", len(sched_cases), "schedules")
