#!/usr/bin/env python3
"""nabla-char-gpt's model and recipe in PyTorch, as a reference for its learning curve.

The same text and split (examples/fortunes.hpp), the same model (token embedding N(0, 1) +
sinusoidal positions, pre-norm TransformerEncoderLayer blocks with GELU under a causal mask, final
LayerNorm, linear head), the same AdamW (betas 0.9/0.99, decay on weights only), linear warmup from
η/10 then cosine to --lr-min per step, gradient clipping, the same windows and validation scoring.
Prints one line per epoch: train and validation bits/char. Run with the reference environment:
  ~/.cache/nabla/reference-env/bin/python scripts/char_gpt_torch.py --limit 600000 --epochs 1 --warmup 30
Reference only (not used by the tests or the library).
"""
import argparse
import math
import os
import random
import time

import torch
import torch.nn as nn


def read_fortunes(d, limit):
    files = sorted(f for f in os.listdir(d)
                   if os.path.isfile(os.path.join(d, f)) and not os.path.islink(os.path.join(d, f))
                   and os.path.splitext(f)[1] not in (".dat", ".u8"))
    split = {"train": [], "validation": [], "test": []}
    k = 0
    fortune = []

    def end():
        nonlocal k, fortune
        if not fortune:
            return
        r = k % 20
        k += 1
        to = split["validation"] if r == 18 else split["test"] if r == 19 else split["train"]
        to.extend(fortune)
        to.extend([ord("%") - 32 + 1, 0])
        fortune = []

    for f in files:
        data = open(os.path.join(d, f), "rb").read()
        lines = data.split(b"\n")
        if data.endswith(b"\n"):
            lines = lines[:-1]
        for line in lines:
            if line == b"%":
                end()
                continue
            for ch in line:
                if ch == 9:
                    ch = 32
                if 32 <= ch <= 126:
                    fortune.append(ch - 32 + 1)
            fortune.append(0)
        end()
        if limit > 0 and len(split["train"]) >= limit:
            break
    return {k: torch.tensor(v, dtype=torch.long) for k, v in split.items()}


def sinusoidal(T, d):
    pos = torch.arange(T, dtype=torch.float32)[:, None]
    i = torch.arange(0, d, 2, dtype=torch.float32)
    div = torch.exp(-math.log(10000.0) * i / d)
    pe = torch.zeros(T, d)
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div)
    return pe


class CharGpt(nn.Module):
    def __init__(self, vocab, width, layers, heads, ff, context):
        super().__init__()
        self.embedding = nn.Embedding(vocab, width)
        self.register_buffer("table", sinusoidal(context, width))
        self.blocks = nn.ModuleList(
            nn.TransformerEncoderLayer(width, heads, ff, dropout=0.0, activation="gelu", norm_first=True)
            for _ in range(layers))
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, vocab)

    def forward(self, chars):  # [T, N] → [T·N, vocab]
        T = chars.shape[0]
        x = self.embedding(chars) + self.table[:T, None, :]
        mask = nn.Transformer.generate_square_subsequent_mask(T)
        for b in self.blocks:
            x = b(x, src_mask=mask, is_causal=True)
        return self.head(self.norm(x).reshape(-1, x.shape[-1]))


@torch.no_grad()
def bits_per_char(model, text, T, batch):
    model.eval()
    n = len(text)
    ln = min(T, n - 1)
    stride = max(1, ln // 2)
    starts = list(range(0, n - 1 - ln + 1, stride))
    if starts[-1] + ln < n - 1:
        starts.append(n - 1 - ln)
    bits, scored_to, count = 0.0, 0, 0
    for first in range(0, len(starts), batch):
        s = starts[first:first + batch]
        x = torch.stack([text[a:a + ln] for a in s], 1)
        y = torch.stack([text[a + 1:a + ln + 1] for a in s], 1)
        logp = torch.log_softmax(model(x), -1).reshape(ln, len(s), -1)
        for b, a in enumerate(s):
            # targets a+1 … a+ln; score those past scored_to
            lo = max(0, scored_to - a)
            if lo < ln:
                lp = logp[lo:, b, :].gather(1, y[lo:, b:b + 1])
                bits -= lp.sum().item()
                count += ln - lo
                scored_to = a + ln
    model.train()
    return bits / count / math.log(2.0)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--text-dir", default="/usr/share/games/fortunes")
    p.add_argument("--limit", type=int, default=0)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--context", type=int, default=128)
    p.add_argument("--width", type=int, default=96)
    p.add_argument("--layers", type=int, default=3)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--ff", type=int, default=0)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--lr-min", type=float, default=1e-4)
    p.add_argument("--warmup", type=int, default=200)
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--clip", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    text = read_fortunes(a.text_dir, a.limit)
    model = CharGpt(96, a.width, a.layers, a.heads, a.ff or 4 * a.width, a.context)
    decay = [q for n, q in model.named_parameters() if q.dim() >= 2]
    rest = [q for n, q in model.named_parameters() if q.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": a.weight_decay},
                             {"params": rest, "weight_decay": 0.0}], lr=a.lr, betas=(0.9, 0.99))
    T = a.context
    train = text["train"]
    count = (len(train) - T) // T
    steps = count // a.batch
    total = steps * a.epochs
    print(f"{sum(q.numel() for q in model.parameters())} parameters; train {len(train)} characters, "
          f"{steps} steps of {a.batch} an epoch", flush=True)

    def lr_at(step):
        if step < a.warmup:
            return a.lr * (0.1 + 0.9 * step / a.warmup)
        t = min(step - a.warmup, max(1, total - a.warmup - 1))
        return a.lr_min + (a.lr - a.lr_min) * (1 + math.cos(math.pi * t / max(1, total - a.warmup - 1))) / 2

    rng = random.Random(a.seed)
    for epoch in range(a.epochs):
        t0 = time.time()
        offset = rng.randrange(T)
        order = list(range(count))
        rng.shuffle(order)
        total_loss = 0.0
        for k in range(steps):
            for g in opt.param_groups:
                g["lr"] = lr_at(epoch * steps + k)
            starts = [offset + T * order[k * a.batch + b] for b in range(a.batch)]
            x = torch.stack([train[s:s + T] for s in starts], 1)
            y = torch.stack([train[s + 1:s + T + 1] for s in starts], 1).reshape(-1)
            loss = nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), a.clip)
            opt.step()
            total_loss += loss.item()
        val = bits_per_char(model, text["validation"], T, a.batch)
        print(f"epoch {epoch + 1}  train {total_loss / steps / math.log(2):.4f}  validation {val:.4f} bits/char  "
              f"{time.time() - t0:.1f}s", flush=True)


if __name__ == "__main__":
    main()
