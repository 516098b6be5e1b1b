"""One model called from 8 Python threads at once gives exactly the serial results.

Kernels release the GIL, so the 8 callers really run at the same time (and share one worker pool);
each must get the bitwise-identical output it would get alone. Checked for every layer type and
for the workload models (W1 MLP, W3 small CNN, a reduced ResNet-18).
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

import minimod
from reliability_models import ALL_CASES, build, inputs

N_THREADS = 8
CALLS_PER_THREAD = 3


@pytest.fixture(params=[1, 2], ids=["1-thread-pool", "2-thread-pool"])
def pool_threads(request):
    before = minimod.get_num_threads()
    minimod.set_num_threads(request.param)
    yield request.param
    minimod.set_num_threads(before)


@pytest.mark.parametrize("name", sorted(ALL_CASES))
def test_concurrent_calls_equal_serial_calls(name, pool_threads):
    model = build(name)
    xs = inputs(name, N_THREADS)
    serial = [np.array(model(x), copy=True) for x in xs]
    results: list = [None] * N_THREADS
    errors: list = []
    start = threading.Barrier(N_THREADS)

    def worker(i: int) -> None:
        try:
            start.wait()
            outs = [model(xs[i]) for _ in range(CALLS_PER_THREAD)]
            results[i] = outs
        except BaseException as e:  # reported below; a thread must not die silently
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(N_THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for i in range(N_THREADS):
        for out in results[i]:
            assert out.dtype == serial[i].dtype and out.shape == serial[i].shape
            assert np.array_equal(out, serial[i]), f"thread {i}: concurrent result differs from the serial one"
