#!/usr/bin/env python3
"""Writes tests/data/torch/: small files torch.save wrote, and what tests/torch_load_test.cpp must
read from them, bit for bit.

  state_dict.pt     a model's state_dict (OrderedDict with _metadata): Linear, BatchNorm1d, ReLU, Linear
  everything.pt     a dict of tensors of every storage type nabla reads (float32, float64, int64, bool,
                    bfloat16, float16, int32, int16, int8, uint8), a transposed view, two views of one
                    storage, a zero-stride (expanded) view, a 0-d and an empty tensor, one tensor under
                    two names, nested dicts, lists, tuples, numbers, strings, None, a dtype
  everything_p4.pt  the same, pickle protocol 4 (FRAME, MEMOIZE, SHORT_BINUNICODE, STACK_GLOBAL)
  parameter.pt      an nn.Parameter (torch._utils._rebuild_parameter)
  everything_deflated.pt  everything.pt re-zipped with every record DEFLATEd (as another zip tool may)
  everything_legacy.pt  the same, in the legacy format (_use_new_zipfile_serialization=False: pickles
                    and raw storages one after the other, as before PyTorch 1.6)
  legacy.pt         a small dict in the legacy format
  whole_model.pt    torch.save(model): names a class of __main__ (refused)
  expected.safetensors  every tensor above as nabla must read it: contiguous, bfloat16/float16 widened
                    to float32 (exact), the small integers as int64; plus the model's input and its
                    output in eval mode ("model.x", "model.y")
  halfs.safetensors float32 and float64 sources of awkward values (ties, subnormals, overflow, infinities)
                    and PyTorch's float16 / bfloat16 of them (.half(), .bfloat16()) as F16 / BF16, and
                    those widened back to float32

The .pt files are also the seeds of the torch fuzzer (fuzz/torch_fuzz.cpp, scripts/fuzz.sh).

    ~/.cache/nabla/reference-env/bin/python scripts/torch_checkpoints.py
"""
import collections
import json
import pathlib
import struct
import zipfile

import torch
import torch.nn as nn

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "data" / "torch"
torch.manual_seed(20261204)

ST_DTYPE = {torch.float32: "F32", torch.float64: "F64", torch.int64: "I64", torch.bool: "BOOL",
            torch.float16: "F16", torch.bfloat16: "BF16"}


def save_safetensors(path, tensors):
    """The safetensors format by hand (the reference environment has no safetensors package)."""
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].contiguous()
        raw = t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""
        header[name] = {"dtype": ST_DTYPE[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * ((8 - len(head) % 8) % 8)
    path.write_bytes(struct.pack("<Q", len(head)) + head + b"".join(blobs))


def as_nabla(t):
    """What nabla reads a stored tensor as."""
    if t.dtype in (torch.float16, torch.bfloat16):
        return t.float()
    if t.dtype in (torch.int32, torch.int16, torch.int8, torch.uint8):
        return t.long()
    return t.clone()


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    expected = {}

    # A model's state dict, and its output in eval mode.
    model = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.ReLU(), nn.Linear(3, 2))
    with torch.no_grad():
        model[1].running_mean.copy_(torch.randn(3))
        model[1].running_var.copy_(torch.rand(3) + 0.5)
        model[1].weight.copy_(torch.randn(3))
        model[1].bias.copy_(torch.randn(3))
        model[1].num_batches_tracked.fill_(7)
    model.eval()
    torch.save(model.state_dict(), OUT / "state_dict.pt")
    for k, v in model.state_dict().items():
        expected["state_dict." + k] = as_nabla(v)
    x = torch.randn(5, 4)
    with torch.no_grad():
        expected["model.x"] = x
        expected["model.y"] = model(x)

    # Every storage type, and the layouts a state dict may hold.
    base = torch.randn(4, 6)
    shared = torch.arange(10, dtype=torch.float64)
    tied = torch.randn(3)
    everything = collections.OrderedDict([
        ("f32", torch.randn(2, 3)),
        ("f64", torch.randn(3, 2, dtype=torch.float64)),
        ("i64", torch.tensor([-(2 ** 62), -1, 0, 2 ** 62 + 5], dtype=torch.int64)),
        ("b8", torch.tensor([[True, False, True], [False, False, True]])),
        ("bf16", (torch.randn(2, 5) * 100).bfloat16()),
        ("f16", torch.tensor([0.0, -0.0, 1.0, 65504.0, 6.1e-05, 6e-08, -2.5, float("inf"), float("-inf")], dtype=torch.float16)),
        ("i32", torch.tensor([-(2 ** 31), 7, 2 ** 31 - 1], dtype=torch.int32)),
        ("i16", torch.tensor([-(2 ** 15), 2 ** 15 - 1], dtype=torch.int16)),
        ("i8", torch.tensor([-128, 127, 0], dtype=torch.int8)),
        ("u8", torch.tensor([0, 200, 255], dtype=torch.uint8)),
        ("transposed", base.t()),                       # strides (1, 6)
        ("column", base[:, 2]),                         # offset 2, stride 6
        ("shared_a", shared[2:5]),                      # one storage, offset 2
        ("shared_b", shared.view(2, 5)[:, 1:4]),        # the same storage, offset 1, strides (5, 1)
        ("expanded", torch.randn(3, 1).expand(3, 4)),   # stride 0
        ("scalar", torch.tensor(3.25)),
        ("empty", torch.zeros(0, 3)),
        ("tied_a", tied),
        ("tied_b", tied),                               # one tensor object under two names
        ("nested", {"inner": {"w": torch.randn(2, 2), "n": 4}, "list": [torch.ones(2), 1.5, "s", None, True]}),
        ("tuple", (1, torch.tensor([9], dtype=torch.int64))),
        ("optimizer", {"state": {0: {"step": torch.tensor(3.0), "exp_avg": torch.randn(2)}}, "param_groups": [{"lr": 0.001, "betas": (0.9, 0.999), "params": [0]}]}),
        ("epoch", 12),
        ("big", -(2 ** 40) - 3),
        ("lr", 0.1),
        ("name", "résumé"),
        ("flag", False),
        ("nothing", None),
        ("dtype", torch.float16),
    ])
    torch.save(everything, OUT / "everything.pt")
    torch.save(everything, OUT / "everything_p4.pt", pickle_protocol=4)
    torch.save(everything, OUT / "everything_legacy.pt", _use_new_zipfile_serialization=False)
    # The same archive re-zipped by another tool: every record DEFLATEd, an archive comment.
    with zipfile.ZipFile(OUT / "everything.pt") as src, \
            zipfile.ZipFile(OUT / "everything_deflated.pt", "w", compression=zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info.filename))
        dst.comment = b"re-zipped"

    def flatten(prefix, v):
        if isinstance(v, torch.Tensor):
            expected[prefix] = as_nabla(v)
        elif isinstance(v, dict):
            for k, w in v.items():
                flatten(f"{prefix}.{k}", w)
        elif isinstance(v, (list, tuple)):
            for i, w in enumerate(v):
                flatten(f"{prefix}.{i}", w)
    flatten("everything", everything)

    torch.save({"p": nn.Parameter(torch.randn(2, 3))}, OUT / "parameter.pt")
    expected["parameter.p"] = torch.load(OUT / "parameter.pt")["p"].detach().clone()
    legacy = {"w": torch.randn(2, 3).t(), "n": 5}
    torch.save(legacy, OUT / "legacy.pt", _use_new_zipfile_serialization=False)
    expected["legacy.w"] = legacy["w"].clone()
    torch.save(model, OUT / "whole_model.pt")

    save_safetensors(OUT / "expected.safetensors", expected)

    # float16 / bfloat16 rounding: awkward float32 values and PyTorch's conversions of them.
    f = struct.unpack
    def bits32(u):
        return f("<f", struct.pack("<I", u))[0]
    awkward = [0.0, -0.0, 1.0, -1.0, 0.1, 1 / 3, 65504.0, 65519.99, 65520.0, 1e6, -1e6, float("inf"), float("-inf"),
               6.103515625e-05, 6.0e-08, 5.960464477539063e-08, 2.98023223876953125e-08, 2.99e-08, 1e-10, -3e-06,
               1 + 2 ** -11, 1 + 3 * 2 ** -11, 1 + 2 ** -8, 1 + 3 * 2 ** -8, 3.3895313892515355e38,
               bits32(0x7F7FFFFF), bits32(0x00000001), bits32(0x3F808000), bits32(0x3F818000), bits32(0x477FEFFF)]
    src = torch.tensor(awkward + torch.randn(64).mul(1000).tolist(), dtype=torch.float32)
    src64 = torch.tensor([1 + 2 ** -11 + 2 ** -40, 1 + 2 ** -8 + 2 ** -40, 0.1, 65519.999999, 1e300, -1e-300] +
                         torch.randn(16, dtype=torch.float64).tolist(), dtype=torch.float64)
    halfs = {"src": src, "src64": src64}
    for name, t in (("src", src), ("src64", src64)):
        halfs[name + "_f16"] = t.half()
        halfs[name + "_bf16"] = t.bfloat16()
        halfs[name + "_f16_wide"] = t.half().float()
        halfs[name + "_bf16_wide"] = t.bfloat16().float()
    save_safetensors(OUT / "halfs.safetensors", halfs)

    print(f"wrote {OUT} with PyTorch {torch.__version__}")


if __name__ == "__main__":
    main()
