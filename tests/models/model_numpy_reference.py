"""float64 numpy forward passes of the model_zoo models, computed from a state_dict.

Written from the layers' definitions (not from minimod's code), so the model tests mean something
without torch: convolution as a sum over kernel taps of strided input slices, eval-mode batch
norm from the running statistics, max pooling with -inf padding. (Test helper modules share one
import namespace, hence a name apart from tests/inference/numpy_reference.py.)
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np


def _f64(state: Mapping[str, Any], key: str) -> np.ndarray:
    return np.array(state[key], dtype=np.float64)


def conv2d(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, stride: int = 1, padding: int = 0) -> np.ndarray:
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    oh, ow = (h + 2 * padding - kh) // stride + 1, (wd + 2 * padding - kw) // stride + 1
    out = np.zeros((n, o, oh, ow))
    for i in range(kh):
        for j in range(kw):
            patch = xp[:, :, i : i + stride * (oh - 1) + 1 : stride, j : j + stride * (ow - 1) + 1 : stride]
            out += np.einsum("nchw,oc->nohw", patch, w[:, :, i, j], optimize=True)
    return out if b is None else out + b[None, :, None, None]


def batch_norm_eval(x: np.ndarray, state: Mapping[str, Any], prefix: str, eps: float = 1e-5) -> np.ndarray:
    shape = (1, -1, 1, 1)
    mean, var = _f64(state, prefix + "running_mean"), _f64(state, prefix + "running_var")
    w, b = _f64(state, prefix + "weight"), _f64(state, prefix + "bias")
    return (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps) * w.reshape(shape) + b.reshape(shape)


def max_pool2d(x: np.ndarray, k: int, stride: int, padding: int = 0) -> np.ndarray:
    n, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)), constant_values=-np.inf)
    oh, ow = (h + 2 * padding - k) // stride + 1, (w + 2 * padding - k) // stride + 1
    out = np.full((n, c, oh, ow), -np.inf)
    for i in range(k):
        for j in range(k):
            out = np.maximum(out, xp[:, :, i : i + stride * (oh - 1) + 1 : stride, j : j + stride * (ow - 1) + 1 : stride])
    return out


def relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0)


def small_cnn(state: Mapping[str, Any], x: np.ndarray) -> np.ndarray:
    y = np.asarray(x, np.float64)
    for conv, bn, pool in (("0", "1", True), ("4", "5", True), ("8", "9", False)):
        y = conv2d(y, _f64(state, f"{conv}.weight"), _f64(state, f"{conv}.bias"), 1, 1)
        y = relu(batch_norm_eval(y, state, f"{bn}."))
        if pool:
            y = max_pool2d(y, 2, 2)
    y = y.mean(axis=(2, 3))
    return y @ _f64(state, "13.weight").T + _f64(state, "13.bias")


def resnet18(state: Mapping[str, Any], x: np.ndarray) -> np.ndarray:
    y = np.asarray(x, np.float64)
    y = relu(batch_norm_eval(conv2d(y, _f64(state, "conv1.weight"), None, 2, 3), state, "bn1."))
    y = max_pool2d(y, 3, 2, 1)
    for layer, first_stride in ((1, 1), (2, 2), (3, 2), (4, 2)):
        for block in (0, 1):
            p = f"layer{layer}.{block}."
            stride = first_stride if block == 0 else 1
            out = relu(batch_norm_eval(conv2d(y, _f64(state, p + "conv1.weight"), None, stride, 1), state, p + "bn1."))
            out = batch_norm_eval(conv2d(out, _f64(state, p + "conv2.weight"), None, 1, 1), state, p + "bn2.")
            if p + "downsample.0.weight" in state:
                identity = batch_norm_eval(conv2d(y, _f64(state, p + "downsample.0.weight"), None, stride, 0), state, p + "downsample.1.")
            else:
                identity = y
            y = relu(out + identity)
    y = y.mean(axis=(2, 3))
    return y @ _f64(state, "fc.weight").T + _f64(state, "fc.bias")
