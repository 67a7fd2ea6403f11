#!/usr/bin/python3
"""PyTorch side of the side-by-side benchmarks: the same models, initialization scale, cost,
optimizer and fixed random batch as bench/models.cpp, timed the same way; prints one JSON line.

  /usr/bin/python3 bench/torch_models.py --model network1 --batch 10 [--mode train|infer|hvp]
                                         [--threads 1] [--steps 2000] [--warmup 200] [--impl pytorch]
Eager mode, with Debian's PyTorch (1.13) or the reference environment's (2.x, scripts/reference-env.sh);
with --compile (2.x only), torch.compile's default mode (Inductor): the model and its cost compiled as
one function, and the optimizer's step compiled too (PyTorch's "compiling the optimizer" recipe);
the compilation runs in the warm-up steps. A Hessian-vector product needs double backward, which
torch.compile refuses ("does not currently support double backward"): --compile --mode hvp is an error.
"""
import argparse
import json
import math
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


VOCAB, SEQ = 96, 64


class CharLstm(nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding, self.lstm, self.fc = nn.Embedding(VOCAB, 64), nn.LSTM(64, 256), nn.Linear(256, VOCAB)

    def forward(self, chars):
        return self.fc(self.lstm(self.embedding(chars))[0].reshape(-1, 256))


class CharGpt(nn.Module):
    """bench/models.cpp's char_gpt (examples/char_gpt_model.hpp): token embedding plus sinusoidal positions,
    3 pre-norm TransformerEncoderLayers (width 96, 4 heads, MLP 384, GELU, no dropout) under the causal
    mask, a final LayerNorm and a linear head; chars [T, N] -> logits [T*N, vocab]."""

    def __init__(self, context, width=96, layers=3, heads=4):
        super().__init__()
        self.embedding = nn.Embedding(VOCAB, width)
        pos = torch.arange(context, dtype=torch.float64).unsqueeze(1)
        w = torch.exp(-math.log(10000.0) * torch.arange(0, width, 2, dtype=torch.float64) / width)
        table = torch.zeros(context, width, dtype=torch.float64)
        table[:, 0::2], table[:, 1::2] = torch.sin(pos * w), torch.cos(pos * w)
        self.register_buffer("table", table.float())
        self.register_buffer("mask", torch.triu(torch.full((context, context), float("-inf")), diagonal=1))
        self.blocks = nn.ModuleList(nn.TransformerEncoderLayer(width, heads, 4 * width, dropout=0.0, activation="gelu",
                                                               norm_first=True) for _ in range(layers))
        self.norm, self.head = nn.LayerNorm(width), nn.Linear(width, VOCAB)
        self.causal_hint = int(torch.__version__.split(".")[0]) >= 2  # is_causal: PyTorch 2.x (its flash kernel)

    def forward(self, chars):
        T = chars.shape[0]
        x = self.embedding(chars) + self.table[:T].unsqueeze(1)
        for b in self.blocks:
            x = b(x, src_mask=self.mask[:T, :T], is_causal=True) if self.causal_hint else b(x, src_mask=self.mask[:T, :T])
        return self.head(self.norm(x)).reshape(-1, VOCAB)


def rss_kb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() // 1024


def make(name, batch, hidden2=100, context=128):
    n = 50000
    if name == "bn_cnn":  # bench/models.cpp's batch-norm CNN, Adam
        def block(i, o):
            return [nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU()]
        net = nn.Sequential(nn.Unflatten(1, (1, 28, 28)), *block(1, 32), *block(32, 32), nn.MaxPool2d(2),
                            *block(32, 64), *block(64, 64), nn.MaxPool2d(2), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                            nn.Linear(64, 10))
        return net, F.cross_entropy, 1e-3, None
    if name == "char_lstm":
        return CharLstm(), F.cross_entropy, 1e-3, None
    if name == "char_gpt":
        return CharGpt(context), F.cross_entropy, 2e-3, "adamw"
    if name == "network1":  # network.py: N(0,1) weights and biases, sigmoid, quadratic cost, eta 3.0
        net = nn.Sequential(nn.Linear(784, 30), nn.Sigmoid(), nn.Linear(30, 10), nn.Sigmoid())
        for p in net.parameters():
            nn.init.normal_(p, 0.0, 1.0)
        cost = lambda a, y: 0.5 * ((a - F.one_hot(y, 10).float()) ** 2).sum(1).mean()
        return net, cost, 3.0, 0.0
    if name == "network2":  # network2.py: N(0,1/n_in) weights, N(0,1) biases, cross-entropy, L2 5.0, eta 0.5
        net = nn.Sequential(nn.Linear(784, hidden2), nn.Sigmoid(), nn.Linear(hidden2, 10))
        cost = lambda z, y: F.binary_cross_entropy_with_logits(z, F.one_hot(y, 10).float(), reduction="sum") / z.shape[0]
        lr, l2 = 0.5, 5.0 / n
    else:  # network3.py's CNN: conv-pool-ReLU x2, FC 100 ReLU, softmax; L2 0.1 per mini-batch count
        net = nn.Sequential(nn.Unflatten(1, (1, 28, 28)), nn.Conv2d(1, 20, 5), nn.MaxPool2d(2), nn.ReLU(),
                            nn.Conv2d(20, 40, 5), nn.MaxPool2d(2), nn.ReLU(), nn.Flatten(),
                            nn.Linear(640, 100), nn.ReLU(), nn.Linear(100, 10))
        cost = lambda z, y: F.cross_entropy(z, y)
        lr, l2 = 0.03, 0.1 * batch / n
    for m in net.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            nn.init.normal_(m.weight, 0.0, 1.0 / math.sqrt(m.weight[0].numel()))
            nn.init.normal_(m.bias, 0.0, 1.0)
    return net, cost, lr, l2


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="network1", choices=["network1", "network2", "network3", "bn_cnn", "char_lstm", "char_gpt"])
    ap.add_argument("--context", type=int, default=128, help="char_gpt: characters per window")
    ap.add_argument("--mode", default="train", choices=["train", "infer", "hvp"])
    ap.add_argument("--batch", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--autocast", default="none", choices=["none", "bf16"],
                    help="bf16: the forward under torch.autocast(\"cpu\", dtype=torch.bfloat16)")
    ap.add_argument("--impl", default="pytorch", help="the name this contender reports (pytorch2: the reference environment's)")
    ap.add_argument("--compile", action="store_true", help="torch.compile the model with its cost, and the optimizer step")
    a = ap.parse_args()
    if a.compile and a.mode == "hvp":  # what torch.compile raises at the second backward
        sys.exit("torch_models.py: torch.compile with aot_autograd does not currently support double backward (hvp)")
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    net, cost, lr, l2 = make(a.model, a.batch, 30 if a.mode == "hvp" else 100, a.context)
    weights = [p for name, p in net.named_parameters() if name.endswith("weight")]
    biases = [p for name, p in net.named_parameters() if name.endswith("bias")]
    if l2 == "adamw":  # char_gpt: AdamW with weight decay on the matrices only, and clipping (nabla-char-gpt's)
        decay = [p for p in net.parameters() if p.dim() >= 2]
        rest = [p for p in net.parameters() if p.dim() < 2]
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": rest, "weight_decay": 0.0}], lr=lr,
                                betas=(0.9, 0.99))
    elif l2 is None:  # the models beyond the book: Adam
        opt = torch.optim.Adam(net.parameters(), lr=lr)
    else:
        opt = torch.optim.SGD([{"params": weights, "weight_decay": l2}, {"params": biases, "weight_decay": 0.0}], lr=lr)
    if a.model in ("char_lstm", "char_gpt"):
        chars = torch.randint(0, VOCAB, ((a.context if a.model == "char_gpt" else SEQ) + 1, a.batch))
        x, y = chars[:-1], chars[1:].reshape(-1)
    else:
        x = torch.rand(a.batch, 784)
        y = torch.arange(a.batch) % 10
    if a.mode == "infer":
        net.eval()

    amp = a.autocast == "bf16"
    forward_cost = lambda x, y: cost(net(x), y)  # noqa: E731
    forward = net
    opt_step = opt.step
    if a.compile:
        forward_cost, forward, opt_step = torch.compile(forward_cost), torch.compile(net), torch.compile(opt.step)

    def train_step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
            c = forward_cost(x, y)
        opt.zero_grad()
        c.backward()
        if l2 == "adamw":
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt_step()

    def infer_step():
        with torch.no_grad():
            forward(x)

    params = list(net.parameters())
    v = [torch.randn_like(p) for p in params]

    def hvp_step():  # double backward, as torch.autograd.functional.hvp does it, without its copies
        c = forward_cost(x, y)
        g = torch.autograd.grad(c, params, create_graph=True)
        gv = sum((gi * vi).sum() for gi, vi in zip(g, v))
        torch.autograd.grad(gv, params)

    step = {"train": train_step, "infer": infer_step, "hvp": hvp_step}[a.mode]
    base_rss = rss_kb()  # before the first step: the interpreter, its libraries, the model and the batch
    us = []
    for i in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        step()
        t = (time.perf_counter() - t0) * 1e6
        if i >= a.warmup:
            us.append(t)
    us.sort()
    model = a.model if a.model != "char_gpt" or a.context == 128 else f"char_gpt_T{a.context}"
    row = {"impl": a.impl, "version": torch.__version__, "model": model, "mode": a.mode, "batch": a.batch, "threads": a.threads,
           "steps": a.steps, "median_us": round(us[len(us) // 2], 2), "min_us": round(us[0], 2),
           "max_us": round(us[-1], 2), "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}
    if a.model == "char_gpt":
        row.update(context=a.context, base_rss_kb=base_rss)
    print(json.dumps(row))


if __name__ == "__main__":
    main()
