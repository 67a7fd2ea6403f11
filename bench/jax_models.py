#!/usr/bin/env python3
"""JAX side of the side-by-side benchmarks: the same models, initial weights, cost, optimizer and
fixed random batch as bench/torch_models.py (and so bench/models.cpp), each step one jax.jit-compiled
function (forward, gradient, update), timed the same way; prints one JSON line.

  python bench/jax_models.py --model network1 --batch 10 [--mode train|infer|hvp] [--threads 1]
                             [--steps 2000] [--warmup 200] [--check 5]
Runs in the reference environment (scripts/reference-env.sh: JAX and PyTorch 2.x). The weights and
the batch are PyTorch's (torch_models.make under the same seed), converted, so both start from the
same point. The optimizers are written here in jax.numpy (no optax): SGD with weight decay on the
weights (the book's L2 term), Adam as torch.optim.Adam. --check N runs N training steps here and in
PyTorch eager from those weights and prints both losses per step (and exits 1 if they differ).
"""
import argparse
import json
import os
import resource
import sys
import time


def parse():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="network1", choices=["network1", "network2", "network3", "bn_cnn", "char_lstm"])
    ap.add_argument("--mode", default="train", choices=["train", "infer", "hvp"])
    ap.add_argument("--batch", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--layout", default="nhwc", choices=["nhwc", "nchw"], help="the convolutional models' activation layout")
    ap.add_argument("--check", type=int, default=0, help="compare N training steps' losses with PyTorch eager, then exit")
    return ap.parse_args()


a = parse()
# XLA's CPU thread pool: one thread unless asked for more (set before jax is imported; the value must
# start with "--", or XLA reads it as a file of flags).
os.environ["XLA_FLAGS"] = " ".join(filter(None, [os.environ.get("XLA_FLAGS", ""), (
    "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1" if a.threads == 1
    else f"--xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads={a.threads}")]))
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402  (the initial weights and the batch, and --check)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_models  # noqa: E402

jax.config.update("jax_enable_x64", False)
torch.set_num_threads(a.threads)


def arr(t):
    return jnp.asarray(t.detach().numpy())


def sigmoid(z):
    return jax.nn.sigmoid(z)


def linear(p, x):
    return x @ p["weight"].T + p["bias"]


# The convolutional models run channels-last by default (NHWC, weights HWIO: Flax's default, and the
# layout XLA's CPU convolutions were the faster in, network3's inference 5× so); PyTorch's OIHW weights
# are transposed once, as they are converted. --layout nchw keeps PyTorch's layout throughout.
NHWC = a.layout == "nhwc"
CH = 3 if NHWC else 1  # the channel axis


def conv(w, x, padding=0):
    dims = ("NHWC", "HWIO", "NHWC") if NHWC else ("NCHW", "OIHW", "NCHW")
    return jax.lax.conv_general_dilated(x, w, (1, 1), [(padding, padding)] * 2, dimension_numbers=dims)


def maxpool2(x):
    window = (1, 2, 2, 1) if NHWC else (1, 1, 2, 2)
    return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, window, window, "VALID")


def per_channel(v):
    """A per-channel vector shaped to broadcast along the channel axis."""
    return v if NHWC else v[:, None, None]


def to_images(x):
    return x.reshape(-1, 28, 28, 1) if NHWC else x.reshape(-1, 1, 28, 28)


def spatial():
    return (1, 2) if NHWC else (2, 3)


def cross_entropy(z, y):
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(z, axis=1), y[:, None], axis=1))


def batch_norm(p, s, x, train):
    """BatchNorm2d: batch statistics in training (running ones updated, momentum 0.1, unbiased var)."""
    if train:
        axes = tuple(d for d in range(4) if d != CH)
        mean = x.mean(axis=axes)
        var = x.var(axis=axes)
        n = x.size // x.shape[CH]
        s = {"running_mean": 0.9 * s["running_mean"] + 0.1 * mean,
             "running_var": 0.9 * s["running_var"] + 0.1 * var * (n / (n - 1))}
    else:
        mean, var = s["running_mean"], s["running_var"]
    scale = p["weight"] * jax.lax.rsqrt(var + 1e-5)
    return (x - per_channel(mean)) * per_channel(scale) + per_channel(p["bias"]), s


def lstm(p, x):
    """nn.LSTM(64, 256), one layer, zero initial state; x [T, N, 64] → h [T, N, 256]. Gates i, f, g, o."""
    hidden = p["weight_hh_l0"].shape[1]
    xw = x @ p["weight_ih_l0"].T + p["bias_ih_l0"] + p["bias_hh_l0"]  # the input products, all steps at once
    h0 = jnp.zeros((x.shape[1], hidden), x.dtype)

    def cell(carry, xt):
        h, c = carry
        gates = xt + h @ p["weight_hh_l0"].T
        i, f, g, o = jnp.split(gates, 4, axis=1)
        c = sigmoid(f) * c + sigmoid(i) * jnp.tanh(g)
        h = sigmoid(o) * jnp.tanh(c)
        return (h, c), h

    return jax.lax.scan(cell, (h0, h0), xw)[1]


def make_model(name, net):
    """params (weights and biases by module), state (batch norm's running statistics), apply, decay mask."""
    sd = {k: arr(v.permute(2, 3, 1, 0) if v.dim() == 4 and NHWC else v)  # OIHW → HWIO
          for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}
    params = {k: v for k, v in sd.items() if "running" not in k}
    state = {k: v for k, v in sd.items() if "running" in k}
    mods = sorted({k.rsplit(".", 1)[0] for k in params}, key=lambda m: [int(t) if t.isdigit() else t for t in m.split(".")])

    def group(p, m):
        return {k.rsplit(".", 1)[1]: v for k, v in p.items() if k.rsplit(".", 1)[0] == m}

    if name in ("network1", "network2"):
        def apply(p, s, x, train):
            h = sigmoid(linear(group(p, mods[0]), x))
            z = linear(group(p, mods[1]), h)
            return (sigmoid(z) if name == "network1" else z), s
    elif name == "network3":
        def apply(p, s, x, train):
            c1, c2, f1, f2 = (group(p, m) for m in mods)
            h = to_images(x)
            h = jax.nn.relu(maxpool2(conv(c1["weight"], h) + per_channel(c1["bias"])))
            h = jax.nn.relu(maxpool2(conv(c2["weight"], h) + per_channel(c2["bias"])))
            if NHWC:
                h = h.transpose(0, 3, 1, 2)  # flattened in PyTorch's (channel, row, column) order, as its weights expect
            h = jax.nn.relu(linear(f1, h.reshape(h.shape[0], -1)))
            return linear(f2, h), s
    elif name == "bn_cnn":
        def apply(p, s, x, train):
            h = to_images(x)
            convs = [m for m in mods if p.get(m + ".weight") is not None and p[m + ".weight"].ndim == 4]
            new_s = {}
            for k, cm in enumerate(convs):
                bm = mods[mods.index(cm) + 1]
                h = conv(p[cm + ".weight"], h, padding=1)
                bs = {"running_mean": s[bm + ".running_mean"], "running_var": s[bm + ".running_var"]}
                h, bs = batch_norm(group(p, bm), bs, h, train)
                new_s[bm + ".running_mean"], new_s[bm + ".running_var"] = bs["running_mean"], bs["running_var"]
                h = jax.nn.relu(h)
                if k in (1, 3):
                    h = maxpool2(h)
            h = h.mean(axis=spatial())
            return linear(group(p, mods[-1]), h), new_s
    else:  # char_lstm
        def apply(p, s, chars, train):
            e = p["embedding.weight"][chars]
            h = lstm(group(p, "lstm"), e)
            return linear(group(p, "fc"), h.reshape(-1, 256)), s
    decay = {k: k.endswith("weight") for k in params}
    return params, state, apply, decay


def main():
    torch.manual_seed(0)
    net, _, lr, l2 = torch_models.make(a.model, a.batch, 30 if a.mode == "hvp" else 100)
    if a.model == "char_lstm":
        chars = torch.randint(0, torch_models.VOCAB, (torch_models.SEQ + 1, a.batch))
        x_t, y_t = chars[:-1], chars[1:].reshape(-1)
    else:
        x_t = torch.rand(a.batch, 784)
        y_t = torch.arange(a.batch) % 10
    if a.check:
        return check(net, lr, l2, x_t, y_t)
    params, state, apply, decay = make_model(a.model, net)
    x, y = arr(x_t), jnp.asarray(y_t.numpy().astype(np.int32))
    cost = cost_fn(a.model)
    step = make_step(apply, cost, decay, lr, l2)

    if a.mode == "train":
        opt = init_opt(params, l2)
        carry = [params, state, opt]

        def run():
            carry[:3] = step(carry[0], carry[1], carry[2], x, y)[:3]
            jax.block_until_ready(carry)
    elif a.mode == "infer":
        fwd = jax.jit(lambda p, s, x: apply(p, s, x, False)[0])

        def run():
            fwd(params, state, x).block_until_ready()
    else:  # hvp: reverse over reverse, as nabla and PyTorch do it: ∇(∇C · v)
        key = jax.random.PRNGKey(0)
        v = {k: jax.random.normal(jax.random.fold_in(key, i), p.shape, p.dtype) for i, (k, p) in enumerate(params.items())}

        def loss(p):
            return cost(apply(p, state, x, True)[0], y)

        def gv(p):
            g = jax.grad(loss)(p)
            return sum(jnp.vdot(g[k], v[k]) for k in p)

        hvp = jax.jit(jax.grad(gv))

        def run():
            jax.block_until_ready(hvp(params))
    us = []
    for i in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        run()
        t = (time.perf_counter() - t0) * 1e6
        if i >= a.warmup:
            us.append(t)
    us.sort()
    print(json.dumps({"impl": "jax", "version": jax.__version__, "model": a.model, "mode": a.mode, "batch": a.batch,
                      "threads": a.threads, "steps": a.steps, "median_us": round(us[len(us) // 2], 2),
                      "min_us": round(us[0], 2), "max_us": round(us[-1], 2),
                      "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))


def cost_fn(model):
    if model == "network1":  # quadratic cost, ½‖a − y‖² averaged over the batch
        return lambda out, y: 0.5 * jnp.mean(jnp.sum((out - jax.nn.one_hot(y, 10)) ** 2, axis=1))
    if model == "network2":  # cross-entropy of sigmoids (binary cross-entropy with logits), summed, over the batch
        def bce(z, y):
            t = jax.nn.one_hot(y, 10)
            return jnp.sum(jnp.maximum(z, 0) - z * t + jnp.log1p(jnp.exp(-jnp.abs(z)))) / z.shape[0]
        return bce
    return cross_entropy


def init_opt(params, l2):
    if l2 is not None:
        return {"t": jnp.zeros((), jnp.int32)}
    return {"t": jnp.zeros((), jnp.int32), "m": {k: jnp.zeros_like(p) for k, p in params.items()},
            "v": {k: jnp.zeros_like(p) for k, p in params.items()}}  # separate buffers: each is donated


def make_step(apply, cost, decay, lr, l2):
    """One jitted training step: loss and gradient, then SGD (weight decay l2 on the weights) or Adam."""

    def loss_fn(p, s, x, y):
        out, s = apply(p, s, x, True)
        return cost(out, y), s

    def step(p, s, opt, x, y):
        (loss, s), g = jax.value_and_grad(loss_fn, has_aux=True)(p, s, x, y)
        t = opt["t"] + 1
        if l2 is not None:  # SGD: w ← w − η (g + λ w) on the weights, w − η g on the biases
            p = {k: w - lr * (g[k] + l2 * w if decay[k] and l2 else g[k]) for k, w in p.items()}
            return p, s, {"t": t}, loss
        b1, b2, eps = 0.9, 0.999, 1e-8  # Adam, as torch.optim.Adam
        m = {k: b1 * opt["m"][k] + (1 - b1) * g[k] for k in p}
        v = {k: b2 * opt["v"][k] + (1 - b2) * g[k] * g[k] for k in p}
        tf = t.astype(jnp.float32)
        c1, c2 = 1 - b1 ** tf, 1 - b2 ** tf
        p = {k: w - (lr / c1) * m[k] / (jnp.sqrt(v[k]) / jnp.sqrt(c2) + eps) for k, w in p.items()}
        return p, s, {"t": t, "m": m, "v": v}, loss

    return jax.jit(step, donate_argnums=(0, 1, 2))


def check(net, lr, l2, x_t, y_t):
    """N training steps in PyTorch eager and here, from the same weights and batch: the losses, step by step."""
    params, state, apply, decay = make_model(a.model, net)
    x, y = arr(x_t), jnp.asarray(y_t.numpy().astype(np.int32))
    step = make_step(apply, cost_fn(a.model), decay, lr, l2)
    opt = init_opt(params, l2)
    _, t_cost, _, _ = torch_models.make(a.model, a.batch)  # the cost function only
    weights = [p for n, p in net.named_parameters() if n.endswith("weight")]
    biases = [p for n, p in net.named_parameters() if not n.endswith("weight")]
    if l2 is None:
        t_opt = torch.optim.Adam(net.parameters(), lr=lr)
    else:
        t_opt = torch.optim.SGD([{"params": weights, "weight_decay": l2}, {"params": biases, "weight_decay": 0.0}], lr=lr)
    worst = 0.0
    for i in range(a.check):
        c = t_cost(net(x_t), y_t)
        t_opt.zero_grad()
        c.backward()
        t_opt.step()
        params, state, opt, loss = step(params, state, opt, x, y)
        rel = abs(float(loss) - c.item()) / max(abs(c.item()), 1e-12)
        worst = max(worst, rel)
        print(f"{a.model} step {i}: pytorch {c.item():.6f}  jax {float(loss):.6f}  rel. diff {rel:.1e}")
    ok = worst < 1e-3
    print(f"{a.model}: {'same' if ok else 'DIFFERENT'} losses over {a.check} steps (worst rel. diff {worst:.1e})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
