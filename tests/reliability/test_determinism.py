"""Determinism: what may and may not change a result (docs/guarantees.md states the promise).

Same input, same thread count, same CPU path: bitwise identical, also across processes. Between
thread counts and between kernel paths (MINIMOD_ISA=generic|avx2|avx512, each path this CPU
supports, one subprocess per path) results agree within the documented tolerance:
max |a - b| <= 1e-5 * max |b| over the output.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from minimod import _core
from reliability_models import ALL_CASES

TOLERANCE = 1e-5  # docs/guarantees.md: relative to the largest output magnitude
ORDER = ["generic", "avx2", "avx512"]
SUPPORTED = ORDER[: ORDER.index(_core.detected_isa()) + 1]
HERE = os.path.dirname(os.path.abspath(__file__))

_WORKER = """
import sys, numpy as np, minimod
sys.path.insert(0, {here!r})
from reliability_models import ALL_CASES, build, inputs
from minimod import _core
assert _core.active_isa() == {isa!r}, _core.active_isa()
out = {{}}
for threads in (1, 2, 3):
    minimod.set_num_threads(threads)
    for name in ALL_CASES:
        model = build(name)
        x = inputs(name, 1)[0]
        out[f"{{threads}}|{{name}}"] = np.asarray(model(x))
np.savez({path!r}, **out)
"""


def _outputs_in_subprocess(isa: str, path: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("MINIMOD_NUM_THREADS", "OMP_NUM_THREADS")}
    env["MINIMOD_ISA"] = isa
    code = _WORKER.format(here=HERE, isa=isa, path=path)
    subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True)
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def _close(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and float(np.max(np.abs(a - b), initial=0.0)) <= TOLERANCE * float(np.max(np.abs(b), initial=0.0))


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    base = tmp_path_factory.mktemp("determinism")
    runs = {isa: _outputs_in_subprocess(isa, str(base / f"{isa}.npz")) for isa in SUPPORTED}
    runs["again"] = _outputs_in_subprocess(SUPPORTED[-1], str(base / "again.npz"))
    return runs


def test_same_path_same_threads_is_bitwise_identical_across_processes(outputs):
    first, again = outputs[SUPPORTED[-1]], outputs["again"]
    assert sorted(first) == sorted(again)
    for key in first:
        assert np.array_equal(first[key], again[key]), key


@pytest.mark.parametrize("name", sorted(ALL_CASES))
def test_thread_counts_agree_within_tolerance(outputs, name):
    for isa in SUPPORTED:
        one = outputs[isa][f"1|{name}"]
        for threads in (2, 3):
            assert _close(outputs[isa][f"{threads}|{name}"], one), (isa, threads)


@pytest.mark.skipif(len(SUPPORTED) < 2, reason="this CPU supports only the generic path")
@pytest.mark.parametrize("name", sorted(ALL_CASES))
def test_kernel_paths_agree_within_tolerance(outputs, name):
    reference = outputs["generic"][f"1|{name}"]
    for isa in SUPPORTED[1:]:
        for threads in (1, 2, 3):
            assert _close(outputs[isa][f"{threads}|{name}"], reference), (isa, threads)


def test_repeated_calls_in_one_process_are_bitwise_identical():
    from reliability_models import build, inputs

    for name in ("W1-mlp", "W3-cnn-small", "resnet18-reduced"):
        model = build(name)
        x = inputs(name, 1)[0]
        first = np.array(model(x), copy=True)
        for _ in range(3):
            assert np.array_equal(model(x), first), name
