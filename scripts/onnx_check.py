"""Checks nabla's ONNX exports: onnx.checker on each model, then ONNX Runtime on the inputs nabla
wrote, compared with nabla's outputs to 1e-5 (float32; numpy.allclose, rtol = atol = 1e-5), at every batch size written (two, so the
symbolic batch dim is exercised). Prints the max abs error and the max rel error (|ort − nabla| /
max(|nabla|, 1e-3)) per model; exits 1 on a failure.

    python scripts/onnx_check.py DIR     (DIR: manifest.json, *.onnx, *.bin from onnx_export_models
                                          or examples/pytorch/roundtrip)
"""
import json
import pathlib
import sys

import numpy as np
import onnx
import onnxruntime as ort

TOL = 1e-5


def load(d, entry):
    return np.fromfile(d / entry["file"], dtype=np.dtype(entry["dtype"])).reshape(entry["shape"])


def main():
    d = pathlib.Path(sys.argv[1])
    manifest = json.loads((d / "manifest.json").read_text())
    ort.set_default_logger_severity(3)
    print(f"onnx {onnx.__version__}, onnxruntime {ort.__version__}")
    failed = []
    for m in manifest:
        path = d / m["file"]
        model = onnx.load(str(path))
        onnx.checker.check_model(model, full_check=True)
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        names = [i.name for i in sess.get_inputs()]
        worst_abs = worst_rel = 0.0
        for case in m["cases"]:
            feeds = {n: load(d, e) for n, e in zip(names, case["inputs"])}
            got = sess.run(None, feeds)
            for g, e in zip(got, case["outputs"]):
                want = load(d, e)
                if g.shape != want.shape:
                    failed.append(f"{m['name']}: shape {g.shape} from ONNX Runtime, {want.shape} from nabla")
                    continue
                err = np.abs(g.astype(np.float64) - want.astype(np.float64))
                worst_abs = max(worst_abs, float(err.max(initial=0)))
                worst_rel = max(worst_rel, float((err / np.maximum(np.abs(want), 1e-3)).max(initial=0)))
                if not np.allclose(g, want, rtol=TOL, atol=TOL):
                    failed.append(f"{m['name']} at batch {case['batch']}: max abs error {float(err.max()):.3g}")
        batches = ", ".join(str(c["batch"]) for c in m["cases"])
        ops = sorted({n.op_type for n in model.graph.node})
        print(f"{m['name']:28s} checker ok  batches {batches:6s} max abs {worst_abs:.2e}  max rel {worst_rel:.2e}  "
              f"({len(model.graph.node)} nodes: {' '.join(ops)})")
    for f in failed:
        print("FAILED:", f)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
