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
