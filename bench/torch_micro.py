#!/usr/bin/env python3
"""The tensor-surface micro-benchmarks of bench/micro.cpp (surface_*) in PyTorch, same shapes,
float32, one thread: forward alone under no_grad, and forward + backward of out with a ones
gradient. Prints one JSON line per benchmark: {"name": "surface_cat/backward:0/tiny:1", "us": ...}.
    OMP_NUM_THREADS=1 /usr/bin/python3 bench/torch_micro.py
"""
import json
import time

import torch

torch.set_num_threads(1)
torch.manual_seed(0)


def rnd(*shape):
    return torch.rand(shape) * 2 - 1


def labels_idx(n, k):
    return torch.tensor([(i * 7) % k for i in range(n)]).reshape(n, 1)


def cases(tiny):
    s2 = (2, 3) if tiny else (64, 128)
    n, k = (4, 3) if tiny else (1000, 10)
    idx = labels_idx(n, k)
    s3 = (2, 3, 3) if tiny else (32, 64, 64)
    return {
        "surface_cat": (lambda a, b: torch.cat([a, b], 1), [rnd(*s2), rnd(*s2)]),
        "surface_permute_sum": (lambda x: x.permute(2, 0, 1).sum(-1), [rnd(*((2, 3, 4) if tiny else (32, 64, 64)))]),
        "surface_gather": (lambda x: x.gather(1, idx), [rnd(n, k)]),
        "surface_bmm": (lambda a, b: torch.matmul(a, b), [rnd(*s3), rnd(*s3)]),
        "surface_logsumexp": (lambda x: x.logsumexp(1), [rnd(*((2, 3) if tiny else (1000, 10)))]),
        "surface_where": (lambda a, b: torch.where(a > 0, a, b), [rnd(*s2 if tiny else (1000, 100)), rnd(*s2 if tiny else (1000, 100))]),
    }


def time_us(fn, min_time=0.3):
    fn()
    n, t = 1, 0.0
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        t = time.perf_counter() - t0
        if t >= min_time:
            return t / n * 1e6
        n *= 2


def main():
    for tiny in (0, 1):
        for name, (f, ins) in cases(tiny).items():
            for backward in (0, 1):
                if backward:
                    leaves = [x.clone().requires_grad_(True) for x in ins]

                    def step(f=f, leaves=leaves):
                        out = f(*leaves)
                        out.backward(torch.ones_like(out))
                        for x in leaves:
                            x.grad = None
                else:
                    def step(f=f, ins=ins):
                        with torch.no_grad():
                            f(*ins)
                print(json.dumps({"name": f"{name}/backward:{backward}/tiny:{tiny}", "us": time_us(step)}))


if __name__ == "__main__":
    main()
