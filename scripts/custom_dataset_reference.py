#!/usr/bin/env python3
"""PyTorch's figure for examples/pytorch/custom_dataset.cpp: the same model (pytorch/examples'
cpp/custom-dataset AlexNet, LogSoftmax, SGD lr 0.001 momentum 0.5, batches of 8 / 200, 10 passes)
on the same files (the PGM images and info.txt that `custom_dataset --make-sample DIR` writes),
read and resized the same way (nearest to 224 × 224, gray expanded to 3 channels, 0..255 values).

    ~/.cache/nabla/reference-env/bin/python scripts/custom_dataset_reference.py DIR [--iterations 10]

One thread (torch.set_num_threads(1)), no DataLoader worker processes. The data order differs from
the C++ program's (Python's shuffle of the info file), and so do the initial weights (torch's
generator): compare the final accuracy, not step by step.
"""
import argparse
import random
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def read_pgm(path):
    with open(path, "rb") as f:
        raw = f.read()
    parts = raw.split(maxsplit=4)
    assert parts[0] == b"P5" and parts[3] == b"255", path
    w, h = int(parts[1]), int(parts[2])
    return np.frombuffer(parts[4][: w * h], dtype=np.uint8).reshape(h, w)


class CustomDataset(torch.utils.data.Dataset):
    def __init__(self, root, data, size):
        self.root, self.data, self.size = root, data, size

    def __getitem__(self, i):
        path, label = self.data[i]
        mat = torch.from_numpy(read_pgm(self.root + path).astype(np.float32))
        resized = F.interpolate(mat[None, None], size=(self.size, self.size), mode="nearest")
        return resized[0].expand(3, self.size, self.size).contiguous(), torch.tensor([label])

    def __len__(self):
        return len(self.data)


def read_info(root):
    train, test = [], []
    with open(root + "info.txt") as f:
        for line in f:
            path, label, kind = line.split()
            (train if kind == "train" else test).append((path, int(label)))
    rng = random.Random(0)
    rng.shuffle(train)
    rng.shuffle(test)
    return train, test


def network(classes, s):
    pool = nn.MaxPool2d(3, 2)
    return nn.Sequential(
        nn.Conv2d(3, 64, 11, stride=4, padding=2), nn.ReLU(), pool,
        nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(), pool,
        nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),
        nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(), pool,
        nn.Flatten(), nn.Dropout(), nn.Linear(256 * s * s, 4096), nn.ReLU(),
        nn.Dropout(), nn.Linear(4096, 4096), nn.ReLU(), nn.Linear(4096, classes), nn.LogSoftmax(1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("root")
    ap.add_argument("--iterations", type=int, default=10)
    ap.add_argument("--image-size", type=int, default=224)
    args = ap.parse_args()
    root = args.root if args.root.endswith("/") else args.root + "/"
    torch.set_num_threads(1)
    torch.manual_seed(1)
    train, test = read_info(root)
    classes = 1 + max(label for _, label in train + test)
    side = args.image_size
    pool = lambda x: (x - 3) // 2 + 1  # noqa: E731
    s = pool(pool(pool((side + 4 - 11) // 4 + 1)))  # 6 for 224
    train_loader = torch.utils.data.DataLoader(CustomDataset(root, train, side), batch_size=8)
    test_loader = torch.utils.data.DataLoader(CustomDataset(root, test, side), batch_size=200)
    net = network(classes, s)
    opt = torch.optim.SGD(net.parameters(), lr=0.001, momentum=0.5)
    t0 = time.time()
    for epoch in range(1, args.iterations + 1):
        net.train()
        total, correct, n = 0.0, 0.0, 0
        for data, target in train_loader:
            target = target.view(-1)
            out = net(data)
            loss = F.nll_loss(out, target)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(target)
            correct += (out.argmax(1) == target).sum().item()
            n += len(target)
        net.eval()
        tl, tc = 0.0, 0.0
        with torch.no_grad():
            for data, target in test_loader:
                target = target.view(-1)
                out = net(data)
                tl += F.nll_loss(out, target).item() * len(target)
                tc += (out.argmax(1) == target).sum().item()
        print(f"epoch {epoch}: train loss {total / n:.4f} acc {correct / n:.4f}; "
              f"test loss {tl / len(test):.4f} acc {tc / len(test):.4f}", flush=True)
    print(f"final test accuracy {tc / len(test):.4f}, loss {tl / len(test):.4f}; {classes} classes, "
          f"{len(train)} train / {len(test)} test images; {time.time() - t0:.1f} s")


if __name__ == "__main__":
    main()
