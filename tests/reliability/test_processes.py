"""Models across process boundaries: pickle / cloudpickle round trips, fork, and multiprocessing.

A round trip gives a model with bitwise-identical outputs. Inference works in a child made by
os.fork() after the parent's worker pool ran (the child builds its own pool), and under
multiprocessing with the fork, spawn and forkserver start methods; every child's output equals
the parent's bit for bit (same machine, same path, same thread count).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import pickle

import numpy as np
import pytest

import minimod
from reliability_models import ALL_CASES, WORKLOAD_CASES, build, inputs


@pytest.fixture
def two_threads():
    before = minimod.get_num_threads()
    minimod.set_num_threads(2)
    yield
    minimod.set_num_threads(before)


@pytest.mark.parametrize("name", sorted(ALL_CASES))
def test_pickle_round_trip_gives_identical_outputs(name):
    model = build(name)
    x = inputs(name, 1)[0]
    expected = np.array(model(x), copy=True)
    clone = pickle.loads(pickle.dumps(model))
    assert np.array_equal(clone(x), expected)
    # the clone owns its own parameters: changing it leaves the original alone
    for p in clone.parameters():
        p[...] = 0
    assert np.array_equal(model(x), expected)


@pytest.mark.parametrize("name", sorted(WORKLOAD_CASES))
def test_cloudpickle_round_trip_gives_identical_outputs(name):
    cloudpickle = pytest.importorskip("cloudpickle")
    import minimod.nn as nn

    class Wrapped(nn.Module):  # defined locally: cloudpickle carries the class by value
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            return self.inner(x) * 2.0

    model = Wrapped(build(name)).eval()
    x = inputs(name, 1)[0]
    expected = np.array(model(x), copy=True)
    clone = cloudpickle.loads(cloudpickle.dumps(model))
    assert np.array_equal(clone(x), expected)


def _infer(args):
    blob, x = args
    model = pickle.loads(blob)
    minimod.set_num_threads(2)
    return np.asarray(model(x)), os.getpid()


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_multiprocessing_inference_equals_the_parent(method, two_threads):
    if method not in mp.get_all_start_methods():
        pytest.skip(f"{method} is not available here")
    name = "W3-cnn-small"
    model = build(name)
    xs = inputs(name, 4)
    expected = [np.array(model(x), copy=True) for x in xs]  # the parent's pool is now running
    blob = pickle.dumps(model)
    with mp.get_context(method).Pool(2) as pool:
        results = pool.map(_infer, [(blob, x) for x in xs])
    assert all(pid != os.getpid() for _, pid in results)
    for (out, _), want in zip(results, expected):
        assert np.array_equal(out, want)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX-only")
def test_forked_child_runs_the_parents_model(two_threads):
    name = "resnet18-reduced"
    model = build(name)
    x = inputs(name, 1)[0]
    expected = np.array(model(x), copy=True)  # the parent's pool has workers now
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: inherited model, inherited (dead) pool; must build a new one
        try:
            ok = np.array_equal(model(x), expected) and minimod._core._pool_size() == 1
            os.write(write_end, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.close(write_end)
    _, status = os.waitpid(pid, 0)
    verdict = os.read(read_end, 1)
    os.close(read_end)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    assert verdict == b"1", "the forked child computed a different result"
    assert np.array_equal(model(x), expected)  # and the parent still works
