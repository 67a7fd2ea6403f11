#!/usr/bin/env python3
"""libtorch's optimizer test configurations (test/cpp/api/optim.cpp, "ProducesPyTorchValues_*"), run
with the reference environment's PyTorch to write tests/data/optim_baseline.json, which
tests/optim_libtorch_test.cpp replays with nabla's optimizers:
  ~/.cache/nabla/reference-env/bin/python scripts/optim_baseline.py
The setting, as libtorch's test describes it: a float64 MLP Linear(2, 3) → sigmoid → Linear(3, 1) →
sigmoid with fixed initial parameters, the input [[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]], 1001 iterations
of zero_grad, loss = output.sum(), backward, step(closure) with a closure that returns 10 (it does
not recompute anything), and the parameters recorded every 100 iterations."""
import json, os
import torch

INIT = {"0.weight": [-0.2109, -0.4976, -0.1413, -0.3420, -0.2524, 0.6976], "0.bias": [-0.1085, -0.2979, 0.6892],
        "2.weight": [-0.0508, -0.3941, -0.2843], "2.bias": [-0.0711]}
O = torch.optim
# name: (optimizer class, options as the libtorch test passes them)
CONFIGS = {
    "Adam": ("Adam", {"lr": 1.0}),
    "Adam_with_weight_decay": ("Adam", {"lr": 1.0, "weight_decay": 1e-2}),
    "Adam_with_weight_decay_and_amsgrad": ("Adam", {"lr": 1.0, "weight_decay": 1e-6, "amsgrad": True}),
    "AdamW": ("AdamW", {"lr": 1.0}),
    "AdamW_without_weight_decay": ("AdamW", {"lr": 1.0, "weight_decay": 0.0}),
    "AdamW_with_amsgrad": ("AdamW", {"lr": 1.0, "amsgrad": True}),
    "Adagrad": ("Adagrad", {"lr": 1.0}),
    "Adagrad_with_weight_decay": ("Adagrad", {"lr": 1.0, "weight_decay": 1e-2}),
    "Adagrad_with_weight_decay_and_lr_decay": ("Adagrad", {"lr": 1.0, "weight_decay": 1e-6, "lr_decay": 1e-3}),
    "RMSprop": ("RMSprop", {"lr": 0.1}),
    "RMSprop_with_weight_decay": ("RMSprop", {"lr": 0.1, "weight_decay": 1e-2}),
    "RMSprop_with_weight_decay_and_centered": ("RMSprop", {"lr": 0.1, "weight_decay": 1e-6, "centered": True}),
    "RMSprop_with_weight_decay_and_centered_and_momentum": ("RMSprop", {"lr": 0.1, "weight_decay": 1e-6, "centered": True, "momentum": 0.9}),
    "SGD": ("SGD", {"lr": 0.1}),
    "SGD_with_weight_decay": ("SGD", {"lr": 0.1, "weight_decay": 1e-2}),
    "SGD_with_weight_decay_and_momentum": ("SGD", {"lr": 0.1, "weight_decay": 1e-2, "momentum": 0.9}),
    "SGD_with_weight_decay_and_nesterov_momentum": ("SGD", {"lr": 0.1, "weight_decay": 1e-6, "momentum": 0.9, "nesterov": True}),
    "LBFGS": ("LBFGS", {"lr": 1.0}),
    "LBFGS_with_line_search": ("LBFGS", {"lr": 1.0, "line_search_fn": "strong_wolfe"}),
}

def run(cls, options, iterations=1001, every=100):
    model = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Sigmoid(), torch.nn.Linear(3, 1), torch.nn.Sigmoid()).double()
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(torch.tensor(INIT[name], dtype=torch.float64).reshape(p.shape))
    opt = getattr(O, cls)(model.parameters(), **options)
    x = torch.tensor([0.1, 0.2, 0.3, 0.4, 0.5, 0.6], dtype=torch.float64).reshape(3, 2)
    samples = []
    for i in range(iterations):
        opt.zero_grad()
        model(x).sum().backward()
        opt.step(lambda: torch.tensor([10.0]))
        if i % every == 0:
            samples.append([p.detach().flatten().tolist() for p in model.parameters()])
    return samples

out = {"init": INIT, "iterations": 1001, "sample_every": 100, "configs": {}}
for name, (cls, options) in CONFIGS.items():
    out["configs"][name] = {"optimizer": cls, "options": options, "samples": run(cls, options)}
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "optim_baseline.json")
with open(path, "w") as f:
    json.dump(out, f, indent=0)
print("wrote", path, len(CONFIGS), "configurations;", torch.__version__)
