#!/usr/bin/python3
"""Turns bench/run.sh's JSON lines into docs/benchmarks.md and a bar chart (gnuplot).

Each (model, mode, batch, threads, impl) ran once per repetition; its figure is the median of the
per-repetition medians, with the min–max of those medians beside it.
"""
import collections
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys

results_path, md_path, png_path = sys.argv[1:4]
rows = [json.loads(line) for line in open(results_path) if line.strip()]
# The sgemm rate is measured once per repetition and thread count, beside the models (this VM's
# speed drifts between runs); the median of those is the peak each share is taken against.
sgemm = collections.defaultdict(list)
level_sgemm = collections.defaultdict(list)  # the same, per CPU level (one thread)
level_runs = collections.defaultdict(list)   # (level, model, mode, batch, impl) -> medians
for r in rows:
    if r.get("level"):
        if r.get("impl") == "openblas":
            level_sgemm[r["level"]].append(r["gflops"])
        elif r.get("impl") in ("nabla", "pytorch"):
            level_runs[(r["level"], r["model"], r["mode"], r["batch"], r["impl"])].append(r["median_us"])
        continue
    if r.get("impl") == "openblas":
        sgemm[r["threads"]].append(r["gflops"])
peak = {t: statistics.median(v) for t, v in sgemm.items()}
runs = collections.defaultdict(list)
rss = collections.defaultdict(int)
for r in rows:
    if r.get("impl") in ("nabla", "pytorch", "pytorch2", "pytorch2-compile", "jax", "libtorch", "openblas-loop") and not r.get("level") \
            and not r.get("section"):
        key = (r["model"], r["mode"], r["batch"], r["threads"], r["impl"])
        runs[key].append(r["median_us"])
        rss[key] = max(rss[key], r["peak_rss_kb"])

# Multiply-adds per example: (layer, forward MACs, whether its input gradient is needed in training).
LAYERS = {
    "network1": [(784 * 30, False), (30 * 10, True)],
    "network2": [(784 * 100, False), (100 * 10, True)],
    "network3": [(20 * 25 * 24 * 24, False), (40 * 500 * 8 * 8, True), (640 * 100, True), (100 * 10, True)],
    # 3×3 convolutions at 28×28 (1→32, 32→32) and 14×14 (32→64, 64→64), then 64→10
    "bn_cnn": [(32 * 9 * 784, False), (32 * 288 * 784, True), (64 * 288 * 196, True), (64 * 576 * 196, True), (640, True)],
    # per sequence ("example"): 64 steps of the LSTM's two products and the output layer (the input
    # projection's input gradient too: it is the embedding's)
    "char_lstm": [(64 * 1024 * 64, True), (64 * 1024 * 256, True), (64 * 256 * 96, True)],
    # per window of 128 characters: 3 blocks of the q/k/v, output and two MLP products, the causal
    # attention's two products (half of 128² · 96 each), and the head
    "char_gpt": [(3 * 128 * 96 * (288 + 96 + 384 + 384), True), (3 * 2 * 64 * 128 * 96, True), (128 * 96 * 96, True)],
}


def flops(model, mode, batch):
    macs = 0
    for m, input_grad in LAYERS[model]:
        macs += m if mode == "infer" else m * (3 if input_grad else 2)
    return 2.0 * macs * batch


def fmt_time(us):
    return f"{us / 1000:.2f} ms" if us >= 1000 else f"{us:.1f} µs"


def version(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, shell=True).stdout.strip() or "?"
    except OSError:
        return "?"


configs = sorted({k[:4] for k in runs}, key=lambda k: (k[3], k[1] != "train", k[0], k[2]))
lines = []
chart = []
for model, mode, batch, threads in configs:
    nb = runs.get((model, mode, batch, threads, "nabla"), [])
    pt = runs.get((model, mode, batch, threads, "pytorch"), [])
    if not nb or not pt:
        continue
    n_med, p_med = statistics.median(nb), statistics.median(pt)
    gflops = flops(model, mode, batch) / n_med / 1e3
    # A Hessian-vector product's work is not the training step's GEMMs: no rate for it.
    rate_cell = "—" if mode == "hvp" else f"{gflops:.1f} ({100 * gflops / peak.get(threads, float('nan')):.0f}%)"
    p2 = runs.get((model, mode, batch, threads, "pytorch2"), [])
    p2_cell = (f"{fmt_time(statistics.median(p2))} ({fmt_time(min(p2))}–{fmt_time(max(p2))}) | **{statistics.median(p2) / n_med:.2f}×**"
               if p2 else "— | —")
    def ratio_cell(impl):  # "time (min–max) | ratio" of another contender, or dashes where it did not run
        v = runs.get((model, mode, batch, threads, impl), [])
        return (f"{fmt_time(statistics.median(v))} ({fmt_time(min(v))}–{fmt_time(max(v))}) | **{statistics.median(v) / n_med:.2f}×**"
                if v else "— | —")
    pc_cell, jax_cell = ratio_cell("pytorch2-compile"), ratio_cell("jax")
    lt = runs.get((model, mode, batch, threads, "libtorch"), [])
    loop = runs.get((model, mode, batch, threads, "openblas-loop"), [])
    lt_cell = f"{fmt_time(statistics.median(lt))} (**{statistics.median(lt) / n_med:.2f}×**)" if lt else "—"
    loop_cell = f"{fmt_time(statistics.median(loop))} ({n_med / statistics.median(loop):.2f}×)" if loop else "—"
    lines.append(
        f"| {model} | {mode} | {batch} | {threads} | {fmt_time(n_med)} ({fmt_time(min(nb))}–{fmt_time(max(nb))}) "
        f"| {fmt_time(p_med)} ({fmt_time(min(pt))}–{fmt_time(max(pt))}) | **{p_med / n_med:.2f}×** "
        f"| {p2_cell} | {pc_cell} | {jax_cell} | {lt_cell} | {loop_cell} "
        f"| {rate_cell} "
        f"| {rss[(model, mode, batch, threads, 'nabla')] / 1024:.0f} / {rss[(model, mode, batch, threads, 'pytorch')] / 1024:.0f} |")
    chart.append((f"{model} {mode} b{batch} t{threads}", p_med / n_med))

cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
reps = max((len(v) for v in runs.values()), default=0)
with open(md_path, "w") as f:
    f.write("# Benchmarks: nabla beside PyTorch\n\n")
    f.write(f"Written by `bash bench/run.sh` on {datetime.date.today().isoformat()} from `{results_path}`; nothing here is typed by hand.\n\n")
    f.write(f"Machine: {os.cpu_count()} cores, {cpu}, Linux {platform.release()}. ")
    nabla_v = next((r["commit"] for r in rows if r.get("impl") == "meta"), None) or version("git rev-parse --short HEAD")
    torch_v = version("/usr/bin/python3 -c 'import torch; print(torch.__version__)'")
    blas_v = version("dpkg-query -W -f='${Version}' libopenblas0")
    torch2_v = next((r["version"] for r in rows if r.get("impl") == "pytorch2" and r.get("version")), None)
    torch2_text = (f", and PyTorch {torch2_v} (today's, from PyPI: the reference environment of scripts/reference-env.sh, eager)"
                   if torch2_v else " (no reference environment: no PyTorch 2.x column; bash scripts/reference-env.sh)")
    jax_v = next((r["version"] for r in rows if r.get("impl") == "jax" and r.get("version")), None)
    compiled = any(r.get("impl") == "pytorch2-compile" for r in rows)
    jax_text = (f", torch.compile of that PyTorch ({'its default mode, Inductor' if compiled else 'no figures: it did not run'}), "
                f"JAX {jax_v} (jax.jit, the same environment)" if jax_v else "")
    f.write(f"nabla {nabla_v}, PyTorch {torch_v} (Debian's){torch2_text}{jax_text}, OpenBLAS {blas_v}.\n")
    load = {r["when"]: r["loadavg"] for r in rows if r.get("impl") == "load"}
    if load:
        busy = max(load.values()) > 1.5
        f.write(f"Load average (1 min) as the run started and ended: {load.get('start', '?')} and {load.get('end', '?')} on "
                f"{os.cpu_count()} cores{' — other work was running: absolute times are slower than on a quiet machine, the ratios (contenders alternating in one run) are what compares' if busy else ''}.\n")
    core = next((r.get("core") for r in rows if r.get("what", "").startswith("sgemm")), "?")
    span = {t: f" ({min(v):.1f}–{max(v):.1f})" if len(v) > 1 else "" for t, v in sgemm.items()}
    f.write(f"OpenBLAS sgemm (1024³) on this machine, median of one measurement per repetition (min–max): "
            f"{peak.get(1, float('nan')):.1f} GFLOP/s{span.get(1, '')} on 1 thread, {peak.get(2, float('nan')):.1f}{span.get(2, '')} on 2, "
            f"with OpenBLAS's {core} kernels, which every process (PyTorch's included) was pinned to with OPENBLAS_CORETYPE "
            "(Debian's OpenBLAS 0.3.21 falls back to its SSE3 \"Prescott\" kernels on CPUs newer than itself; nabla detects that, see `nabla::blas_info`).\n\n")
    f.write("Each contender runs the same model (same shapes, initialization scale, cost and optimizer) on the same fixed random batch, "
            "in its own process, limited to the same number of threads (at one thread, pinned to the same CPU with `taskset -c 0`); each process warms up, then times every step. "
            f"A figure is the median over {reps} repetitions of each process's median step, with the min–max of those medians; "
            "the contenders take turns going first. **ratio** = PyTorch time / nabla time (above 1: nabla is faster), "
            "for Debian's PyTorch and for today's PyTorch 2.x (which runs on its own BLAS, MKL and oneDNN, not the pinned OpenBLAS); "
            "**compile** is that PyTorch with the model and cost, and the optimizer step, under torch.compile (bench/torch_models.py "
            "--compile; compiled during the warm-up; — where it does not run, such as double backward for hvp), and **JAX** "
            "the same models written in JAX (bench/jax_models.py: PyTorch's initial weights and batch, one jax.jit step with "
            "SGD or Adam in jax.numpy), with the ratio contender time / nabla time; "
            "the libtorch column is the same models through libtorch's C++ API (bench/libtorch_models.cpp) with its ratio "
            "libtorch time / nabla time; the OpenBLAS-loop column is network.py written by hand against OpenBLAS, no framework "
            "(bench/blas_loop.cpp), with nabla time / loop time (how far nabla is from that floor). "
            "GFLOP/s counts the model's multiply-adds (forward, and for training the backward GEMMs it needs) over nabla's step time, "
            "with the share of the sgemm rate. Peak RSS is each process's maximum resident set.\n\n")
    f.write("| model | mode | batch | threads | nabla | PyTorch 1.13 | ratio | PyTorch 2.x | ratio 2.x | compile | ratio | JAX "
            "| ratio | libtorch (ratio) | OpenBLAS loop (nabla / loop) | nabla GFLOP/s (of sgemm) | peak RSS MB nabla / PyTorch |\n")
    f.write("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
    f.write("\n".join(lines) + "\n\n")
    f.write("![speed ratio](img/benchmarks.png)\n")
    # Two threads against one: throughput ratio (1-thread step / 2-thread step) of each nabla row.
    pairs = sorted({k[:3] for k in runs if k[4] == "nabla" and k[3] == 1 and (k[0], k[1], k[2], 2, "nabla") in runs},
                   key=lambda k: (k[1] != "train", k[0], k[2]))
    if pairs:
        f.write("\n## Two threads against one\n\n"
                "The same runs as the table above: nabla's step on 1 thread (pinned) and on 2, and the throughput "
                "gained by the second core (1-thread time / 2-thread time; above 1: faster on two). Products under 2²¹ "
                "multiply-adds run on the calling thread (src/kernels/blas.cpp), so the MLP rows at batch 10 and 64 and "
                "network2's hvp run the same single-threaded code at 2 threads as at 1; the 1-thread runs are pinned to CPU 0 "
                "and the 2-thread ones are not, so there the ratio measures which of this virtual machine's two CPUs the "
                "process ran on, and its noise: compare the min–max.\n\n"
                "| model | mode | batch | 1 thread | 2 threads | throughput 2 / 1 |\n|---|---|---|---|---|---|\n")
        for model, mode, batch in pairs:
            one, two = runs[(model, mode, batch, 1, "nabla")], runs[(model, mode, batch, 2, "nabla")]
            m1, m2 = statistics.median(one), statistics.median(two)
            f.write(f"| {model} | {mode} | {batch} | {fmt_time(m1)} ({fmt_time(min(one))}–{fmt_time(max(one))}) | "
                    f"{fmt_time(m2)} ({fmt_time(min(two))}–{fmt_time(max(two))}) | **{m1 / m2:.2f}×** |\n")
    if level_runs:
        f.write("\n## Per CPU level (one build; nabla/cpu.hpp)\n\n"
                "One thread, pinned. nabla forced to each kernel level with `NABLA_CPU`; PyTorch limited to the same "
                "instruction set (`ATEN_CPU_CAPABILITY` for its own kernels: default, avx2, avx512; `ONEDNN_MAX_CPU_ISA` "
                "for oneDNN's convolutions: SSE41, AVX2, AVX512_CORE); both with OpenBLAS's kernels for that level "
                "(`OPENBLAS_CORETYPE`: Nehalem, Haswell, SkylakeX), whose sgemm rate (1024³, one thread, measured in "
                "each repetition) the GFLOP/s share is taken against. Ratio = PyTorch time / nabla time.\n\n"
                "| level | model | mode | batch | nabla | PyTorch, same ISA | ratio | nabla GFLOP/s (of that level's sgemm) |\n"
                "|---|---|---|---|---|---|---|---|\n")
        order = {"generic": 0, "avx2": 1, "avx512": 2}
        for level, model, mode, batch in sorted({k[:4] for k in level_runs}, key=lambda k: (order.get(k[0], 9), k[1] != "network3", k[1], -k[3])):
            nb, pt = level_runs.get((level, model, mode, batch, "nabla"), []), level_runs.get((level, model, mode, batch, "pytorch"), [])
            if not nb or not pt:
                continue
            n_med, p_med = statistics.median(nb), statistics.median(pt)
            g = flops(model, mode, batch) / n_med / 1e3
            peak_l = statistics.median(level_sgemm[level]) if level_sgemm.get(level) else float("nan")
            f.write(f"| {level} | {model} | {mode} | {batch} | {fmt_time(n_med)} ({fmt_time(min(nb))}–{fmt_time(max(nb))}) | "
                    f"{fmt_time(p_med)} ({fmt_time(min(pt))}–{fmt_time(max(pt))}) | **{p_med / n_med:.2f}×** | "
                    f"{g:.1f} ({100 * g / peak_l:.0f}% of {peak_l:.1f}) |\n")
    attention = [r for r in rows if r.get("impl") == "attention"]
    gpt_n, gpt_p = runs.get(("char_gpt", "train", 32, 1, "nabla"), []), runs.get(("char_gpt", "train", 32, 1, "pytorch2"), [])
    if attention or gpt_n:
        f.write("\n## Attention and a small GPT beside PyTorch 2.x (one thread)\n\n"
                "`bench_attention` and `bench/attention_torch.py`: `scaled_dot_product_attention` forward, then backward of "
                "sum(out · w), float32, batch 8, 4 heads, head dim 64, causal; nabla's fused kernel (blocked online softmax) "
                "and its composed math path, PyTorch's default CPU choice (its flash kernel) and its math backend; each process "
                "times 5 runs after a warm-up. `bench_models --model char_gpt` and `bench/torch_models.py --model char_gpt`: "
                "one training step of nabla-char-gpt's model (3 pre-norm blocks, width 96, 4 heads; 354K parameters) on 32 "
                "windows of 128 characters, AdamW and clipping. One thread, pinned (`taskset -c 0`), the contenders "
                "alternating; medians of the per-process medians (min–max). Ratio = PyTorch time / nabla time.\n\n"
                "| step | nabla | PyTorch 2.x | ratio |\n|---|---|---|---|\n")
        by_name = collections.defaultdict(list)
        for r in attention:
            by_name[r["name"]].append(r["ms"] * 1000)
        for T in sorted({int(n.split("T:")[1]) for n in by_name}):
            for ours, theirs, label in (("fused", "torch-default", "fused / PyTorch's default"), ("math", "torch-math", "math / math")):
                n, p = by_name.get(f"sdpa/{ours}/T:{T}", []), by_name.get(f"sdpa/{theirs}/T:{T}", [])
                if n and p:
                    f.write(f"| SDPA T = {T}, {label} | {fmt_time(statistics.median(n))} ({fmt_time(min(n))}–{fmt_time(max(n))}) | "
                            f"{fmt_time(statistics.median(p))} ({fmt_time(min(p))}–{fmt_time(max(p))}) | "
                            f"**{statistics.median(p) / statistics.median(n):.2f}×** |\n")
        if gpt_n and gpt_p:
            f.write(f"| char_gpt training step, 32 × 128 | {fmt_time(statistics.median(gpt_n))} ({fmt_time(min(gpt_n))}–{fmt_time(max(gpt_n))}) | "
                    f"{fmt_time(statistics.median(gpt_p))} ({fmt_time(min(gpt_p))}–{fmt_time(max(gpt_p))}) | "
                    f"**{statistics.median(gpt_p) / statistics.median(gpt_n):.2f}×** |\n")
        mem = [r for r in rows if r.get("impl") == "attention-memory"] + \
              [r for r in rows if r.get("model") == "char_gpt_T1024" and r.get("impl") in ("nabla", "pytorch2")]
        if mem:
            f.write("\nPeak memory of one T = 1024 step, each contender in a process of its own: the SDPA step above "
                    "(nabla fused, PyTorch's default), and the char_gpt training step on 8 windows of 1024 characters. "
                    "Peak RSS is the process's maximum resident set; *before* is its resident set before the first step "
                    "(the program or interpreter, the libraries, the inputs and the model); *above* is their difference.\n\n"
                    "| step | contender | peak RSS | before | above |\n|---|---|---|---|---|\n")
            for r in mem:
                what = f"SDPA T = 1024 ({r['name'].split('/')[1]})" if "name" in r else "char_gpt step, 8 × 1024"
                who = "PyTorch 2.x" if ("name" in r and "torch" in r["name"]) or r.get("impl") == "pytorch2" else "nabla"
                f.write(f"| {what} | {who} | {r['peak_rss_kb'] / 1024:.0f} MB | {r['base_rss_kb'] / 1024:.0f} MB | "
                        f"{(r['peak_rss_kb'] - r['base_rss_kb']) / 1024:.0f} MB |\n")
        f.write("\n")
    bf16 = collections.defaultdict(list)
    for r in rows:
        if r.get("section") == "bf16":
            bf16[r["impl"]].append(r["median_us"])
    if bf16.get("nabla-bf16"):
        def cell(impl):
            v = bf16.get(impl, [])
            return f"{fmt_time(statistics.median(v))} ({fmt_time(min(v))}–{fmt_time(max(v))})" if v else "—"
        def ratio(a, b):
            return f"**{statistics.median(bf16[a]) / statistics.median(bf16[b]):.2f}×**" if bf16.get(a) and bf16.get(b) else "—"
        f.write("\n## bfloat16 autocast (one thread)\n\n"
                "The bn_cnn training step (batch 64, Adam) with its forward under autocast — nabla's `AutocastGuard(bf16)` "
                "(`bench_models --autocast bf16`) and PyTorch 2.x's `torch.autocast(\"cpu\", dtype=torch.bfloat16)` — "
                "beside the same step in float32, each in a process of its own, pinned (`taskset -c 0`), the four "
                "alternating; medians of the per-process medians (min–max). Products and convolutions run in bfloat16 "
                "with float32 sums (nabla: AVX512-BF16's vdpbf16ps where the CPU has it), batch norm, ReLU, pooling and "
                "the cost in float32, float32 master weights.\n\n"
                "| contender | float32 step | bf16 autocast step | float32 / bf16 |\n|---|---|---|---|\n"
                f"| nabla | {cell('nabla')} | {cell('nabla-bf16')} | {ratio('nabla', 'nabla-bf16')} |\n"
                f"| PyTorch 2.x | {cell('pytorch2')} | {cell('pytorch2-bf16')} | {ratio('pytorch2', 'pytorch2-bf16')} |\n"
                f"| PyTorch 2.x / nabla | {ratio('pytorch2', 'nabla')} | {ratio('pytorch2-bf16', 'nabla-bf16')} | |\n\n")
    allreduce = [r for r in rows if r.get("impl") == "allreduce"]
    ddp = [r for r in rows if r.get("impl") == "nabla-ddp"]
    if allreduce or ddp:
        f.write("\n## Data-parallel training over MPI (nabla::dist, OpenMPI, one thread per rank)\n\n")
    if allreduce:
        f.write("`mpirun -np 2 bench_allreduce`: one in-place float32 allreduce (`dist::all_reduce`, MPI_Iallreduce) "
                "between two ranks on this machine, by message size; median of each repetition's median (min–max), and the "
                "algorithm bandwidth (bytes / time).\n\n| bytes | time | GB/s |\n|---|---|---|\n")
        by_size = collections.defaultdict(list)
        for r in allreduce:
            by_size[r["bytes"]].append(r["median_us"])
        for b in sorted(by_size):
            v = by_size[b]
            f.write(f"| {b:,} | {fmt_time(statistics.median(v))} ({fmt_time(min(v))}–{fmt_time(max(v))}) | "
                    f"{b / statistics.median(v) / 1e3:.2f} |\n")
        f.write("\n")
    if ddp:
        one = [r["median_us"] for r in rows if r.get("impl") == "nabla-1rank"]
        f.write("network3 training steps at batch 64 per rank, one thread per rank (`bench_models`, pinned to a core each; "
                "under `mpirun -np 2 --bind-to core` with `dist::DistributedDataParallel`), beside one process at batch 64 "
                "in the same repetitions. Throughput = ranks × batch / step time; *waited* is the time per step "
                "`synchronize()` spent waiting for allreduces. With one bucket (network3's 343 KB gradient at the default "
                "4 MB) the allreduce can only start when backward is done, so nothing is hidden; *hidden* is the share of "
                "that wait a bucket size saves by starting buckets during backward.\n\n"
                "| ranks | bucket MB (buckets) | step | examples/s | vs 1 process | waited per step | hidden |\n"
                "|---|---|---|---|---|---|---|\n")
        if one:
            m1 = statistics.median(one)
            f.write(f"| 1 | — | {fmt_time(m1)} ({fmt_time(min(one))}–{fmt_time(max(one))}) | {64e6 / m1:,.0f} | 1.00× | — | — |\n")
        groups = collections.defaultdict(list)
        for r in ddp:
            groups[(r["ranks"], r.get("bucket_mb", 4), r["buckets"])].append(r)
        single = {k[0]: statistics.median([r["wait_us"] for r in rs]) for k, rs in groups.items() if k[2] == 1}
        for (ranks, mb, buckets), rs in sorted(groups.items()):
            steps = [r["median_us"] for r in rs]
            med = statistics.median(steps)
            wait = statistics.median([r["wait_us"] for r in rs])
            speed = f"{statistics.median(one) / med * ranks:.2f}×" if one else "—"
            hidden = "— (the reference)" if buckets == 1 else (f"{(1 - wait / single[ranks]) * 100:.0f}%" if ranks in single else "—")
            f.write(f"| {ranks} | {mb:g} ({buckets}) | {fmt_time(med)} ({fmt_time(min(steps))}–{fmt_time(max(steps))}) | "
                    f"{ranks * 64e6 / med:,.0f} | {speed} | {fmt_time(wait)} | {hidden} |\n")
        f.write("\n")
    memory = [r for r in rows if r.get("impl") == "nabla-memory"]
    if memory:
        f.write("\n## Memory over long runs\n\n")
        f.write("`bench_models --rss-every N`: one process trains for many steps on one thread and samples its resident set "
                "(/proc/self/statm) before the first step and every N steps. Growth counts from the first sample after "
                "warm-up (step N) to the last.\n\n")
        f.write("| model | batch | steps | RSS at step 0 | at step N | at the end | growth after warm-up | median step |\n")
        f.write("|---|---|---|---|---|---|---|---|\n")
        for r in memory:
            trace = r["rss_trace"]
            growth = trace[-1][1] - trace[1][1]
            f.write(f"| {r['model']} | {r['batch']} | {r['steps']:,} | {trace[0][1] / 1024:.1f} MB | {trace[1][1] / 1024:.1f} MB "
                    f"(step {trace[1][0]:,}) | {trace[-1][1] / 1024:.1f} MB | {growth:+d} kB | {fmt_time(r['median_us'])} |\n")
    shares_path = os.path.join(os.path.dirname(results_path), "op_shares.txt")
    if os.path.exists(shares_path):
        f.write("\n## Where the time goes\n\n")
        f.write("`bench_mlp_step` and `bench_cnn_step` (1 thread): step times, then each op's share of the step measured with "
                "`nabla::profile` inside the same steps (timing each op adds a little to every step, so the profiled step "
                "is slower than the median above it; the shares are what to read).\n\n```\n")
        f.write(open(shares_path).read().rstrip() + "\n```\n")
    micro_path = os.path.join(os.path.dirname(results_path), "micro.json")
    if os.path.exists(micro_path):
        micro = json.load(open(micro_path))
        f.write("\n## Single ops (bench/micro.cpp, Google Benchmark, 1 thread, float32)\n\n")
        f.write("Forward alone (no graph recorded) and forward + backward of each op at the book's shapes; "
                "`op_overhead` records and backpropagates a chain of 100 one-element multiplications and gives the time per op.\n\n")
        f.write("| benchmark | wall time | CPU time |\n|---|---|---|\n")
        surface = [b for b in micro["benchmarks"] if b["name"].startswith("surface_")]
        for b in micro["benchmarks"]:
            if b["name"].startswith("surface_"):
                continue
            name = b["name"].replace("/backward:0", " (forward)").replace("/backward:1", " (forward + backward)")
            unit = b.get("time_unit", "us")
            scale = {"ns": 1e-3, "us": 1.0, "ms": 1e3}[unit]
            extra = f" — {b['us_per_op'] * 1e6:.2f} µs per op (CPU)" if "us_per_op" in b else ""
            f.write(f"| {name} | {fmt_time(b['real_time'] * scale)} | {fmt_time(b['cpu_time'] * scale)}{extra} |\n")

    torch_path = os.path.join(os.path.dirname(results_path), "torch_micro.jsonl")
    if os.path.exists(micro_path) and os.path.exists(torch_path) and surface:
        torch_us = {}
        for line in open(torch_path):
            r = json.loads(line)
            torch_us[r["name"]] = r["us"]
        f.write("\n## Tensor surface beside PyTorch (bench/micro.cpp surface_*, bench/torch_micro.py; 1 thread, float32)\n\n")
        f.write("Each op at a model's size and at a tiny one (`tiny:1`: [2, 3]-sized inputs, where the cost per op is all "
                "there is); forward alone, and forward + backward with a ones gradient. Ratio = PyTorch time / nabla time.\n\n")
        f.write("| op | size | mode | nabla | PyTorch | ratio |\n|---|---|---|---|---|---|\n")
        shapes = {"surface_cat": ("2 × [64, 128] along 1", "2 × [2, 3]"),
                  "surface_permute_sum": ("[32, 64, 64] permute (2, 0, 1), sum last", "[2, 3, 4]"),
                  "surface_gather": ("[1000, 10], [1000, 1] indices", "[4, 3]"),
                  "surface_bmm": ("[32, 64, 64] · [32, 64, 64]", "[2, 3, 3] · [2, 3, 3]"),
                  "surface_logsumexp": ("[1000, 10] over 1", "[2, 3]"),
                  "surface_where": ("where(x > 0, x, y), [1000, 100]", "[2, 3]")}
        for b in surface:
            base, bwd, tiny = b["name"].split("/")
            us = b["real_time"] * {"ns": 1e-3, "us": 1.0, "ms": 1e3}[b.get("time_unit", "us")]
            t = torch_us.get(b["name"])
            ratio = f"**{t / us:.2f}×**" if t else "—"
            f.write(f"| {base.replace('surface_', '')} | {shapes.get(base, ('', ''))[tiny.endswith('1')]} | "
                    f"{'forward + backward' if bwd.endswith('1') else 'forward'} | {fmt_time(us)} | "
                    f"{fmt_time(t) if t else '—'} | {ratio} |\n")

data_path = png_path + ".dat"
with open(data_path, "w") as d:
    for i, (label, ratio) in enumerate(chart):
        d.write(f'{i} "{label}" {ratio:.3f}\n')
script = f"""set terminal pngcairo size 1100,520 font 'sans,9'
set output '{png_path}'
set title 'PyTorch step time / nabla step time (above 1: nabla is faster)'
set style fill solid 0.8
set boxwidth 0.7
set grid ytics
set xtics rotate by -35 left
set yrange [0:*]
set key off
set rmargin 10
set bmargin 7
plot '{data_path}' using 1:3:xtic(2) with boxes lc rgb '#3b7dd8', 1 with lines lc rgb '#cc3333' lw 2
"""
subprocess.run(["gnuplot"], input=script, text=True, check=True)
os.remove(data_path)
