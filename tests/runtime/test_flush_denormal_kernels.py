"""set_flush_denormal(True) reaches every kernel route, whatever the size, and only minimod.

A denormal input through an identity computation (weights of one, a mean of equal values, a unit
BatchNorm) comes out unchanged with flushing off; with flushing on, the kernel's arithmetic treats
it as zero (DAZ) and flushes denormal results (FTZ), so the output is exactly zero. Sizes span
the small paths that run on the calling thread without the pool and the big ones that split.
"""

from __future__ import annotations

import numpy as np
import pytest

import minimod
import minimod.nn.functional as F

TINY = np.float32(1e-39)  # below float32's smallest normal (1.18e-38)


def _identity_linear(n_in: int, n_out: int):
    x = np.full((1, n_in), TINY, np.float32)
    w = np.zeros((n_out, n_in), np.float32)
    w[np.arange(n_out), np.arange(n_out) % n_in] = 1
    return lambda: F.linear(x, w)


def _identity_conv(channels: int, size: int, k: int, groups: int = 1):
    x = np.full((1, channels, size, size), TINY, np.float32)
    w = np.zeros((channels, channels // groups, k, k), np.float32)
    for c in range(channels):
        w[c, c % (channels // groups), k // 2, k // 2] = 1
    return lambda: F.conv2d(x, w, padding=k // 2, groups=groups)


def _unit_batch_norm(channels: int, size: int):
    x = np.full((1, channels, size, size), TINY, np.float32)
    mean, var = np.zeros(channels, np.float32), np.ones(channels, np.float32)
    return lambda: F.batch_norm(x, mean, var, training=False, eps=0.0)


def _avg_pool(size: int):
    x = np.full((1, 4, size, size), TINY, np.float32)
    return lambda: F.avg_pool2d(x, 2)


def _silu(size: int):
    x = np.full((1, 4, size, size), TINY, np.float32)  # x * sigmoid(x) = x / 2: a denormal result
    return lambda: F.silu(x)


CASES = {
    **{f"linear-{i}x{o}": _identity_linear(i, o) for i, o in [(1, 1), (16, 16), (64, 64), (784, 512), (4096, 16)]},
    **{f"conv1x1-c{c}-s{s}": _identity_conv(c, s, 1) for c, s in [(4, 2), (4, 8), (4, 64), (64, 56)]},
    **{f"conv3x3-c{c}-s{s}": _identity_conv(c, s, 3) for c, s in [(4, 2), (4, 8), (64, 16), (64, 56)]},
    **{f"depthwise-c{c}-s{s}": _identity_conv(c, s, 3, groups=c) for c, s in [(4, 2), (4, 64), (128, 56)]},
    **{f"batch_norm-c{c}-s{s}": _unit_batch_norm(c, s) for c, s in [(4, 2), (64, 56)]},
    **{f"avg_pool-s{s}": _avg_pool(s) for s in [2, 64]},
    **{f"silu-s{s}": _silu(s) for s in [2, 64]},
}


@pytest.fixture
def flush_restored():
    before = minimod.get_flush_denormal()
    yield
    minimod.set_flush_denormal(before)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("case", list(CASES))
def test_every_kernel_route_flushes_when_asked(case, threads, flush_restored):
    call = CASES[case]
    before_threads = minimod.get_num_threads()
    minimod.set_num_threads(threads)
    try:
        minimod.set_flush_denormal(False)
        kept = call()
        assert np.count_nonzero(kept) > 0 and np.all(np.abs(kept) < np.finfo(np.float32).tiny)  # denormals out
        minimod.set_flush_denormal(True)
        flushed = call()
        assert np.count_nonzero(flushed) == 0, f"{np.count_nonzero(flushed)} denormals survived"
        # ... and the caller's own arithmetic still keeps denormals after the call.
        assert (np.array([TINY]) * np.float32(1))[0] == TINY
    finally:
        minimod.set_num_threads(before_threads)
