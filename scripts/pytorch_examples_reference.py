#!/usr/bin/env python3
"""The PyTorch figures beside examples/pytorch/ (docs/from-pytorch.md, "pytorch/examples in nabla"):
pytorch/examples' C++ programs mnist, regression and dcgan written again in PyTorch with the same
models and hyper-parameters, reading the same Fashion-MNIST IDX files the same way (MNIST's 60,000 /
10,000 split, pixels / 255, the same Normalize), one thread. Prints each run's figures.

    ~/.cache/nabla/reference-env/bin/python scripts/pytorch_examples_reference.py mnist [--epochs 10]
    ~/.cache/nabla/reference-env/bin/python scripts/pytorch_examples_reference.py regression [--seed 1]
    ~/.cache/nabla/reference-env/bin/python scripts/pytorch_examples_reference.py dcgan [--epochs 1] [--train-limit N]
        [--out DIR [--resume]] [--checkpoint-every 200]   (DIR: losses.csv and the checkpoint --resume continues from)
    ~/.cache/nabla/reference-env/bin/python scripts/pytorch_examples_reference.py autograd
"""
import argparse
import gzip
import math
import os
import pathlib
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(1)
DATA = pathlib.Path("/usr/share/datasets/fashion-mnist")


def read_idx(name):
    path = DATA / name
    raw = gzip.open(path).read() if path.suffix == ".gz" else path.read_bytes()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load(split):
    prefix = "train" if split == "train" else "t10k"
    x = torch.from_numpy(read_idx(f"{prefix}-images-idx3-ubyte.gz").astype(np.float32) / 255.0).unsqueeze(1)
    y = torch.from_numpy(read_idx(f"{prefix}-labels-idx1-ubyte.gz").astype(np.int64))
    return x, y


class Net(nn.Module):  # mnist.cpp's
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 10, 5)
        self.conv2 = nn.Conv2d(10, 20, 5)
        self.conv2_drop = nn.Dropout2d()
        self.fc1 = nn.Linear(320, 50)
        self.fc2 = nn.Linear(50, 10)

    def forward(self, x):
        x = F.relu(F.max_pool2d(self.conv1(x), 2))
        x = F.relu(F.max_pool2d(self.conv2_drop(self.conv2(x)), 2))
        x = x.view(-1, 320)
        x = F.relu(self.fc1(x))
        x = F.dropout(x, 0.5, self.training)
        x = self.fc2(x)
        return F.log_softmax(x, 1)


def mnist(args):
    torch.manual_seed(args.seed)
    xtr, ytr = load("train")
    xte, yte = load("test")
    if args.train_limit:
        xtr, ytr = xtr[:args.train_limit], ytr[:args.train_limit]
    xtr, xte = (xtr - 0.1307) / 0.3081, (xte - 0.1307) / 0.3081
    model = Net()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.5)
    start = time.time()
    for epoch in range(1, args.epochs + 1):
        model.train()
        perm = torch.randperm(len(ytr))
        for i in range(0, len(ytr), 64):
            idx = perm[i:i + 64]
            opt.zero_grad()
            loss = F.nll_loss(model(xtr[idx]), ytr[idx])
            loss.backward()
            opt.step()
        model.eval()
        test_loss, correct = 0.0, 0
        with torch.no_grad():
            for i in range(0, len(yte), 1000):
                out = model(xte[i:i + 1000])
                test_loss += F.nll_loss(out, yte[i:i + 1000], reduction="sum").item()
                correct += out.argmax(1).eq(yte[i:i + 1000]).sum().item()
        print(f"epoch {epoch}: test loss {test_loss / len(yte):.4f} accuracy {correct / len(yte):.4f} "
              f"({time.time() - start:.0f} s)", flush=True)
    print(f"mnist (PyTorch {torch.__version__}): {args.epochs} epochs, test accuracy {correct / len(yte):.4f}, "
          f"{time.time() - start:.1f} s")


def regression(args):
    torch.manual_seed(args.seed)
    w_target = torch.randn(4, 1) * 5
    b_target = torch.randn(1) * 5
    fc = nn.Linear(4, 1)
    opt = torch.optim.SGD(fc.parameters(), lr=0.1)
    start = time.time()
    for batch_idx in range(1, 100001):
        x = torch.randn(32).unsqueeze(1)
        x = torch.cat([x ** (i + 1) for i in range(4)], 1)
        y = x.mm(w_target) + b_target.item()
        opt.zero_grad()
        out = F.smooth_l1_loss(fc(x), y)
        loss = out.item()
        out.backward()
        opt.step()
        if loss < 1e-3:
            break
    print(f"regression (PyTorch {torch.__version__}, seed {args.seed}): loss {loss:.6f} after {batch_idx} batches, "
          f"{time.time() - start:.2f} s")


def dcgan(args):
    torch.manual_seed(args.seed)
    generator = nn.Sequential(
        nn.ConvTranspose2d(100, 256, 4, bias=False), nn.BatchNorm2d(256), nn.ReLU(),
        nn.ConvTranspose2d(256, 128, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(128), nn.ReLU(),
        nn.ConvTranspose2d(128, 64, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
        nn.ConvTranspose2d(64, 1, 4, stride=2, padding=1, bias=False), nn.Tanh())
    discriminator = nn.Sequential(
        nn.Conv2d(1, 64, 4, stride=2, padding=1, bias=False), nn.LeakyReLU(0.2),
        nn.Conv2d(64, 128, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(128), nn.LeakyReLU(0.2),
        nn.Conv2d(128, 256, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(256), nn.LeakyReLU(0.2),
        nn.Conv2d(256, 1, 3, stride=1, padding=0, bias=False), nn.Sigmoid())
    x, _ = load("train")
    if args.train_limit:
        x = x[:args.train_limit]
    x = (x - 0.5) / 0.5
    g_opt = torch.optim.Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.5))
    d_opt = torch.optim.Adam(discriminator.parameters(), lr=2e-4, betas=(0.5, 0.5))
    start = time.time()
    batches = math.ceil(len(x) / 64)
    first_epoch, skip, perm = 1, 0, None
    ckpt = os.path.join(args.out, "checkpoint.pt") if args.out else None
    if args.out:
        os.makedirs(args.out, exist_ok=True)
    if args.resume:  # where the run was, with its random state: the rest of the run is the uninterrupted one's
        state = torch.load(ckpt, weights_only=False)
        if state["batches"] != batches:
            raise SystemExit(f"{ckpt} was written by a run of {state['batches']} batches per epoch; this one has {batches}")
        for obj, key in ((generator, "g"), (discriminator, "d"), (g_opt, "g_opt"), (d_opt, "d_opt")):
            obj.load_state_dict(state[key])
        torch.set_rng_state(state["rng"])
        first_epoch, skip, perm = state["epoch"], state["batch"], state["perm"]
        print(f"resuming at epoch {first_epoch}, batch {skip}", flush=True)
    losses = open(os.path.join(args.out, "losses.csv"), "a" if args.resume else "w") if args.out else None
    if losses and not args.resume:
        losses.write("epoch,batch,d_loss,g_loss\n")
    for epoch in range(first_epoch, args.epochs + 1):
        if not (epoch == first_epoch and perm is not None):
            perm = torch.randperm(len(x))
        for b in range(skip if epoch == first_epoch else 0, batches):
            real = x[perm[b * 64:(b + 1) * 64]]
            n = len(real)
            discriminator.zero_grad()
            real_labels = torch.empty(n).uniform_(0.8, 1.0)
            d_loss_real = F.binary_cross_entropy(discriminator(real).reshape(n), real_labels)
            d_loss_real.backward()
            fake = generator(torch.randn(n, 100, 1, 1))
            fake_labels = torch.zeros(n)
            d_loss_fake = F.binary_cross_entropy(discriminator(fake.detach()).reshape(n), fake_labels)
            d_loss_fake.backward()
            d_loss = d_loss_real + d_loss_fake
            d_opt.step()
            generator.zero_grad()
            fake_labels.fill_(1)
            g_loss = F.binary_cross_entropy(discriminator(fake).reshape(n), fake_labels)
            g_loss.backward()
            g_opt.step()
            if (b + 1) % 10 == 0:
                print(f"[{epoch}/{args.epochs}][{b + 1}/{batches}] D_loss: {d_loss.item():.4f} | "
                      f"G_loss: {g_loss.item():.4f}", flush=True)
                if losses:
                    losses.write(f"{epoch},{b + 1},{d_loss.item():.6f},{g_loss.item():.6f}\n")
                    losses.flush()
            if ckpt and (b + 1) % args.checkpoint_every == 0:  # written whole, then renamed: never half a checkpoint
                torch.save({"g": generator.state_dict(), "d": discriminator.state_dict(), "g_opt": g_opt.state_dict(),
                            "d_opt": d_opt.state_dict(), "rng": torch.get_rng_state(), "epoch": epoch, "batch": b + 1,
                            "perm": perm, "batches": batches}, ckpt + ".tmp")
                os.replace(ckpt + ".tmp", ckpt)
    print(f"dcgan (PyTorch {torch.__version__}): {args.epochs} epochs on {len(x)} images, last D_loss "
          f"{d_loss.item():.4f} G_loss {g_loss.item():.4f}, {time.time() - start:.1f} s")


def autograd(args):
    x = torch.ones(2, 2, requires_grad=True)
    z = (x + 2) * (x + 2) * 3
    out = z.mean()
    out.backward()
    print(f"autograd (PyTorch {torch.__version__}): z {z[0, 0].item()}, out {out.item()}, x.grad {x.grad[0, 0].item()}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("program", choices=["mnist", "regression", "dcgan", "autograd"])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--train-limit", type=int, default=0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", default="", help="dcgan: directory for losses.csv and the checkpoint")
    p.add_argument("--resume", action="store_true", help="dcgan: continue from the checkpoint in --out")
    p.add_argument("--checkpoint-every", type=int, default=200, help="dcgan: batches between checkpoints")
    args = p.parse_args()
    globals()[args.program](args)


if __name__ == "__main__":
    main()
