#!/usr/bin/python3
"""Draws the images a pytorch_dcgan checkpoint sampled (DIR/dcgan-sample-N.safetensors: "samples",
float32 [n, 1, 28, 28] in [0, 1]) as one row per file, with gnuplot; standard library only.

    python3 scripts/dcgan-samples.py OUT.png DIR/dcgan-sample-10.safetensors DIR/dcgan-sample-141.safetensors ...
"""
import json
import struct
import subprocess
import sys
import tempfile


def read_samples(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    info = header["samples"]
    if info["dtype"] != "F32" or len(info["shape"]) != 4:
        raise SystemExit(f"{path}: expected float32 samples [n, 1, h, w], got {info['dtype']} {info['shape']}")
    b, e = info["data_offsets"]
    count, _, h, w = info["shape"]
    values = struct.unpack(f"<{(e - b) // 4}f", data[b:e])
    return [[values[(i * h + r) * w:(i * h + r + 1) * w] for r in range(h)] for i in range(count)]


def main():
    png, paths = sys.argv[1], sys.argv[2:]
    if not paths:
        raise SystemExit(__doc__)
    rows = [read_samples(p) for p in paths]
    h, w, n = len(rows[0][0]), len(rows[0][0][0]), len(rows[0])
    with tempfile.NamedTemporaryFile("w", suffix=".dat") as m:
        for row in reversed(rows):  # gnuplot's matrix puts its first line at the bottom
            for r in reversed(range(h)):
                m.write(" ".join(" ".join(f"{v:.3f}" for v in image[r]) for image in row) + "\n")
        m.flush()
        names = [p.rsplit("/", 1)[-1].removeprefix("dcgan-sample-").removesuffix(".safetensors") for p in paths]
        labels = ", ".join(f"'checkpoint {name}' {(len(rows) - 1 - k) * h + h / 2 - 0.5}" for k, name in enumerate(names))
        script = f"""set terminal pngcairo size {n * w * 3 + 220},{len(rows) * h * 3 + 60} font 'sans,9' noenhanced
set output '{png}'
set title 'pytorch_dcgan samples (one row per checkpoint)'
unset colorbox
set palette gray
set cbrange [0:1]
set xrange [-0.5:{n * w - 0.5}]
set yrange [-0.5:{len(rows) * h - 0.5}]
unset xtics
set ytics ({labels})
set size ratio -1
plot '{m.name}' matrix with image notitle
"""
        subprocess.run(["gnuplot"], input=script, text=True, check=True)
    print(f"wrote {png}")


if __name__ == "__main__":
    main()
