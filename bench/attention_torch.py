#!/usr/bin/env python3
"""PyTorch's torch.nn.functional.scaled_dot_product_attention on the shapes of bench/attention.cpp: float32,
batch 8, 4 heads, head dim 64, T = 256 and 1024, causal; forward, then backward of sum(out · w), the median of
`reps` runs. Its default backend choice (on CPU: the flash kernel) and the math backend. One JSON line each:
    {"name": "sdpa/torch-default/T:256", "threads": 1, "ms": 12.3, "reps": 10}
    ~/.cache/nabla/reference-env/bin/python bench/attention_torch.py [--threads N] [--reps R] [--T 256,1024]
                                                                       [--backend both|default|math]
with the min and max, the peak resident set and the resident set before the first case (bench/attention.cpp's).
"""
import argparse
import json
import resource
import statistics
import time

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel


def step(q, k, v, w, backend):
    lq, lk, lv = (t.detach().requires_grad_(True) for t in (q, k, v))
    t0 = time.perf_counter()
    if backend is None:
        out = F.scaled_dot_product_attention(lq, lk, lv, is_causal=True)
    else:
        with sdpa_kernel(backend):
            out = F.scaled_dot_product_attention(lq, lk, lv, is_causal=True)
    (out * w).sum().backward()
    return (time.perf_counter() - t0) * 1e3


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--T", default="256,1024")
    ap.add_argument("--backend", default="both", choices=["both", "default", "math"])
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    with open("/proc/self/statm") as f:
        base_rss = int(f.read().split()[1]) * resource.getpagesize() // 1024
    for T in (int(t) for t in a.T.split(",")):
        q, k, v, w = (torch.randn(8, 4, T, 64) for _ in range(4))
        for name, backend in (("torch-default", None), ("torch-math", SDPBackend.MATH)):
            if a.backend != "both" and f"torch-{a.backend}" != name:
                continue
            step(q, k, v, w, backend)
            ms = [step(q, k, v, w, backend) for _ in range(a.reps)]
            print(json.dumps({"name": f"sdpa/{name}/T:{T}", "threads": a.threads, "ms": round(statistics.median(ms), 3),
                              "min_ms": round(min(ms), 3), "max_ms": round(max(ms), 3), "reps": a.reps,
                              "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "base_rss_kb": base_rss}))


if __name__ == "__main__":
    main()
