"""The PyTorch side of the round trip (examples/pytorch/roundtrip.cpp; docs/from-pytorch.md,
"Weights in and models out"): trains a small CNN on a slice of Fashion-MNIST in PyTorch, saves it
with torch.save(model.state_dict()), runs the nabla program (load, equal logits, fine-tune, export to
ONNX), then runs the ONNX file in ONNX Runtime and compares with nabla's outputs
(scripts/onnx_check.py). Run with the reference environment:

    ~/.cache/nabla/reference-env/bin/python scripts/roundtrip_torch.py build/examples/roundtrip OUT_DIR

Without the Debian package dataset-fashion-mnist it trains on synthetic images instead.
"""
import gzip
import json
import pathlib
import subprocess
import sys

import numpy as np
import torch
from torch import nn

FASHION = pathlib.Path("/usr/share/datasets/fashion-mnist")
N_TRAIN, N_TEST = 2048, 256


def idx(path):
    data = gzip.open(path).read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)


def data():
    if (FASHION / "train-images-idx3-ubyte.gz").exists():
        x = idx(FASHION / "train-images-idx3-ubyte.gz")[:N_TRAIN + N_TEST].reshape(-1, 784) / np.float32(255)
        y = idx(FASHION / "train-labels-idx1-ubyte.gz")[:N_TRAIN + N_TEST].astype(np.int64)
        source = "Fashion-MNIST"
    else:  # ten noisy prototypes
        rng = np.random.default_rng(0)
        protos = rng.uniform(0, 1, (10, 784))
        y = rng.integers(0, 10, N_TRAIN + N_TEST)
        x = np.clip(protos[y] + rng.normal(0, 0.3, (len(y), 784)), 0, 1)
        source = "synthetic images"
    x = x.astype(np.float32)
    return source, x[:N_TRAIN], y[:N_TRAIN], x[N_TRAIN:], y[N_TRAIN:]


def main():
    program, out = sys.argv[1], pathlib.Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    source, x_train, y_train, x_test, y_test = data()
    # The same layers, in the same order, as roundtrip.cpp's nn::Sequential (so the same names).
    model = nn.Sequential(nn.Unflatten(1, (1, 28, 28)), nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8 * 14 * 14, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    xt, yt = torch.from_numpy(x_train), torch.from_numpy(y_train)
    for epoch in range(2):
        perm = torch.randperm(N_TRAIN)
        for i in range(0, N_TRAIN, 64):
            b = perm[i:i + 64]
            loss = nn.functional.cross_entropy(model(xt[b]), yt[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        logits = model(torch.from_numpy(x_test))
    acc = (logits.argmax(1).numpy() == y_test).mean()
    print(f"PyTorch {torch.__version__}: trained on {N_TRAIN} {source}; test accuracy {acc:.4f}")
    torch.save(model.state_dict(), out / "model.pt")
    x_train.tofile(out / "x_train.bin")
    y_train.tofile(out / "y_train.bin")
    x_test.tofile(out / "x_test.bin")
    y_test.tofile(out / "y_test.bin")
    logits.numpy().astype(np.float32).tofile(out / "logits_torch.bin")
    (out / "meta.json").write_text(json.dumps({"train": N_TRAIN, "test": N_TEST, "source": source}))

    subprocess.run([program, str(out)], check=True)

    sys.argv = [sys.argv[0], str(out)]
    sys.path.insert(0, str(pathlib.Path(__file__).parent))
    import onnx_check
    onnx_check.main()


if __name__ == "__main__":
    main()
