"""Memory: no growth over many forward calls, and a deleted model frees its storage.

minimod._core._storage_stats() counts the live native Storages and their bytes process-wide, so
these tests see minimod's own allocations exactly; RSS (/proc/self/statm) catches everything else
(workspace caches, pybind11 or numpy objects that are never released).
"""

from __future__ import annotations

import gc
import os
import sys
import weakref

import numpy as np
import pytest

import minimod.nn as nn
from minimod import _core
from reliability_models import build, inputs

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/statm")

PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
# AddressSanitizer keeps freed memory in a quarantine (256 MB by default) to catch use-after-free,
# so RSS grows by design under it; the native storage counters are checked there all the same.
UNDER_ASAN = "asan" in os.environ.get("LD_PRELOAD", "")


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def small_model():
    return nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 64), nn.GELU(), nn.Linear(64, 8),
                         nn.Softmax(dim=-1)).eval()


def test_ten_thousand_calls_with_varying_batch_sizes_do_not_grow_memory():
    model = small_model()
    rng = np.random.default_rng(0)
    batches = [rng.standard_normal((b, 32)).astype(np.float32) for b in (1, 3, 17, 64, 5, 128, 2, 33)]

    def run(n: int) -> None:
        for i in range(n):
            model(batches[i % len(batches)])

    run(1000)  # warm-up: allocator pools, caches, lazily started worker threads
    gc.collect()
    storages_before, bytes_before = _core._storage_stats()
    rss_before = rss_bytes()
    run(10_000)
    gc.collect()
    storages_after, bytes_after = _core._storage_stats()
    rss_after = rss_bytes()
    assert (storages_after, bytes_after) == (storages_before, bytes_before), "native storage leaked"
    # Each call allocates ~100 KB at most; a leak of one output per call would be > 100 MB.
    if not UNDER_ASAN:
        assert rss_after - rss_before < 8 << 20, f"RSS grew by {(rss_after - rss_before) >> 10} KiB"


def test_calls_on_workload_models_do_not_grow_memory():
    model = build("W3-cnn-small")
    xs = inputs("W3-cnn-small", 4)
    for x in xs * 5:
        model(x)
    gc.collect()
    before = _core._storage_stats()
    rss_before = rss_bytes()
    for _ in range(50):
        for x in xs:
            model(x)
    gc.collect()
    assert _core._storage_stats() == before
    if not UNDER_ASAN:
        assert rss_bytes() - rss_before < 8 << 20


def test_deleting_a_model_frees_its_storage_while_a_held_view_stays_valid():
    gc.collect()
    count0, bytes0 = _core._storage_stats()
    model = nn.Sequential(nn.Linear(256, 512), nn.BatchNorm1d(512), nn.Linear(512, 256))
    count1, bytes1 = _core._storage_stats()
    assert count1 - count0 == 2 + 5 + 2  # two (weight, bias) pairs + BN's five tensors
    weight_bytes = 512 * 256 * 4
    assert bytes1 - bytes0 >= 2 * weight_bytes

    view = np.asarray(model[0].weight)  # the user keeps a numpy view of one parameter
    expected = np.array(view, copy=True)
    out = model.eval()(np.ones((2, 256), np.float32))  # and an output
    alive = weakref.ref(model)
    del model
    gc.collect()
    assert alive() is None, "the model is still referenced somewhere"
    count2, bytes2 = _core._storage_stats()
    # Everything is freed except the viewed weight and the output the user still holds.
    assert count2 - count0 == 2
    assert bytes2 - bytes0 == weight_bytes + out.nbytes
    assert np.array_equal(view, expected)  # the view still reads the same memory
    view[0, 0] = 42.0  # and can still be written
    assert view[0, 0] == 42.0
    del view, out
    gc.collect()
    assert _core._storage_stats() == (count0, bytes0)
