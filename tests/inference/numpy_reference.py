"""Float64 numpy references for the inference tests: convolution, BatchNorm (eval), linear.

Written from the definitions, independent of minimod's kernels and of torch.
"""

from __future__ import annotations

import numpy as np


def conv_nd(x, w, b, stride, padding, dilation, groups):
    """Cross-correlation of x (N, C_in, *S) with w (C_out, C_in / groups, *k), zero padding."""
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    nd = x.ndim - 2
    pads = [(0, 0), (0, 0)] + [(p, p) for p in padding]
    xp = np.pad(x, pads)
    n, cin = x.shape[:2]
    cout = w.shape[0]
    k = w.shape[2:]
    out_size = [
        (xp.shape[2 + i] - dilation[i] * (k[i] - 1) - 1) // stride[i] + 1 for i in range(nd)
    ]
    out = np.zeros((n, cout, *out_size))
    cin_g, cout_g = cin // groups, cout // groups
    for g in range(groups):
        xg = xp[:, g * cin_g:(g + 1) * cin_g]
        wg = w[g * cout_g:(g + 1) * cout_g]
        for offset in np.ndindex(*k):
            sl = tuple(
                slice(offset[i] * dilation[i],
                      offset[i] * dilation[i] + stride[i] * (out_size[i] - 1) + 1, stride[i])
                for i in range(nd)
            )
            patch = xg[(slice(None), slice(None), *sl)]  # (N, cin_g, *out)
            tap = wg[(slice(None), slice(None), *offset)]  # (cout_g, cin_g)
            out[:, g * cout_g:(g + 1) * cout_g] += np.einsum("nc...,oc->no...", patch, tap)
    if b is not None:
        out += np.asarray(b, np.float64).reshape((1, -1) + (1,) * nd)
    return out


def batch_norm_eval(x, mean, var, weight, bias, eps):
    """Eval-mode BatchNorm over dimension 1 of x."""
    x = np.asarray(x, np.float64)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    y = (x - np.asarray(mean, np.float64).reshape(shape)) / np.sqrt(
        np.asarray(var, np.float64).reshape(shape) + eps
    )
    if weight is not None:
        y = y * np.asarray(weight, np.float64).reshape(shape)
    if bias is not None:
        y = y + np.asarray(bias, np.float64).reshape(shape)
    return y


def linear(x, w, b):
    y = np.asarray(x, np.float64) @ np.asarray(w, np.float64).T
    return y if b is None else y + np.asarray(b, np.float64)


def randomise_bn(bn, rng):
    """Non-trivial running statistics and affine parameters (fresh ones are mean 0, var 1)."""
    n = bn.num_features
    if bn.running_mean is not None:
        np.asarray(bn.running_mean)[...] = rng.normal(0, 0.5, n)
        np.asarray(bn.running_var)[...] = rng.uniform(0.3, 2.0, n)
    if bn.weight is not None:
        np.asarray(bn.weight)[...] = rng.uniform(0.5, 1.5, n)
    if bn.bias is not None:
        np.asarray(bn.bias)[...] = rng.normal(0, 0.3, n)
