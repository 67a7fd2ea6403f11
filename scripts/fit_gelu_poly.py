#!/usr/bin/env python3
"""The polynomials of src/kernels/level/gelu.cpp: Φ(x) = 1/2 + x P(x²) for |x| < 0.75, and
Φ(−u) = e^{−u²/2} q(1/(u + 2) − t_m) / (u + 2) for u in [0.75, 15]. Least squares on Chebyshev
nodes, reweighted towards the largest relative error (minimax-like), against mpmath at 40 digits.
Run with the reference environment's python (numpy, mpmath): prints the coefficients and the fit's
relative error."""
import mpmath as mp
import numpy as np

mp.mp.dps = 40
N = 3000
COS = np.cos(np.pi * (np.arange(N) + 0.5) / N)


def fit(a, y, iters=40):
    w = 1 / np.abs(y)
    coef, *_ = np.linalg.lstsq(a * w[:, None], y * w, rcond=None)
    for _ in range(iters):
        r = (a @ coef - y) / y
        w = w * (1 + 50 * np.abs(r) / np.abs(r).max())
        coef, *_ = np.linalg.lstsq(a * w[:, None], y * w, rcond=None)
    return coef, np.abs((a @ coef - y) / y).max()


def main():
    s, hi, c = 0.75, 15.0, 2.0
    z = s * s / 2 * (1 + COS)  # x² in [0, s²]
    x = np.sqrt(z)
    y = np.array([float((mp.ncdf(mp.mpf(v)) - mp.mpf(0.5)) / mp.mpf(v)) for v in x])
    coef, err = fit(np.vstack([z**i for i in range(7)]).T, y)
    print("kSmall", [float(v) for v in coef], "relative error", err)
    ta, tb = 1 / (hi + c), 1 / (s + c)
    tm = (ta + tb) / 2
    t = tm + (tb - ta) / 2 * COS
    u = 1 / t - c
    g = np.array([float(mp.ncdf(-mp.mpf(v)) * mp.exp(mp.mpf(v) ** 2 / 2)) for v in u])
    coef, err = fit(np.vstack([(t - tm) ** i for i in range(11)]).T, g / t)
    print("kTailMid", tm)
    print("kTail", [float(v) for v in coef], "relative error", err)


if __name__ == "__main__":
    main()
