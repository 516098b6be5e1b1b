"""Random checkpoint corruptions: minimod's load_state_dict agrees with torch, and is atomic.

A fixed tree (float parameters, persistent / non-persistent / integer 0-d buffers, a None
parameter, a None child) is loaded from its own state_dict after random edits: dropped keys,
extra keys, wrong shapes, other dtypes, non-tensor values, a (1,) value for a 0-d buffer, with
strict and assign drawn at random. The outcome (error text, or the returned keys and the
resulting values and dtypes) must be torch's; when minimod raises, nothing may have changed.
"""

from __future__ import annotations

import re
from collections import OrderedDict

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
torch = pytest.importorskip("torch")
st = hypothesis.strategies

import minimod.nn as mnn  # noqa: E402


def norm(msg: str) -> str:
    def size(m: re.Match) -> str:
        return repr(tuple(int(x) for x in m.group(1).split(",") if x.strip()))

    msg = re.sub(r"torch\.Size\(\[([^\]]*)\]\)", size, msg)
    return re.sub(r"torch\.\w+Tensor\b", "numpy.ndarray", msg)


def build(nn, arr, counter):
    class Leaf(nn.Module):
        def __init__(self, n):
            super().__init__()
            self.weight = nn.Parameter(arr(np.linspace(-1, 1, 2 * n).reshape(n, 2)))
            self.register_buffer("mean", arr(np.linspace(0, 1, n)))
            self.register_buffer("tmp", arr(np.zeros(1)), persistent=False)
            self.register_buffer("steps", counter())
            self.register_parameter("gone", None)

    class Root(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = Leaf(2)
            self.b = Leaf(3)
            self.add_module("nothing", None)
            self.scale = nn.Parameter(arr(np.ones(1)))

    return Root()


def torch_model():
    return build(torch.nn, lambda a: torch.tensor(a, dtype=torch.float32),
                 lambda: torch.tensor(3, dtype=torch.int64))


def minimod_model():
    return build(mnn, lambda a: np.asarray(a, dtype=np.float32), lambda: np.array(3, np.int64))


KEYS = list(minimod_model().state_dict().keys())
EXTRA_KEYS = ["extra", "a.extra", "a.tmp", "a.gone", "nothing.w", "b.c.d"]

edit = st.one_of(
    st.tuples(st.just("drop"), st.sampled_from(KEYS)),
    st.tuples(st.just("add"), st.sampled_from(EXTRA_KEYS)),
    st.tuples(st.just("shape"), st.sampled_from(KEYS), st.sampled_from([(), (1,), (1, 1), (3, 2), (7,)])),
    st.tuples(st.just("dtype"), st.sampled_from(KEYS), st.sampled_from(["float64", "int64", "bool", "int32"])),
    st.tuples(st.just("value"), st.sampled_from(KEYS), st.sampled_from([3, [1.0], "s", None])),
)


def make_sd(edits, seed, to_tensor):
    rng = np.random.default_rng(seed)
    sd = OrderedDict()
    ref = minimod_model().state_dict()
    for k, v in ref.items():
        sd[k] = np.asarray(np.round(rng.uniform(-3, 3, size=v.shape), 1)).astype(v.dtype)
    for e in edits:
        kind, key = e[0], e[1]
        if kind == "drop":
            sd.pop(key, None)
        elif kind == "add":
            sd[key] = np.ones(1, np.float32)
        elif kind == "shape":
            sd[key] = np.asarray(np.round(rng.uniform(-3, 3, size=e[2]), 1)).astype(np.float32)
        elif kind == "dtype" and key in sd and isinstance(sd[key], np.ndarray):
            sd[key] = sd[key].astype(e[2])
        elif kind == "value":
            sd[key] = e[2]
    return OrderedDict((k, to_tensor(v) if isinstance(v, np.ndarray) else v) for k, v in sd.items())


def outcome(model, sd, strict, assign, as_list, dtype):
    try:
        res = model.load_state_dict(sd, strict=strict, assign=assign)
    except Exception as e:  # noqa: BLE001
        return ("error", type(e).__name__, norm(str(e)))
    values = [(k, as_list(v), dtype(v)) for k, v in model.state_dict().items()]
    return ("ok", repr(res), values)


def snapshot(m):
    return [(k, id(v), v.dtype, np.asarray(v).tobytes()) for k, v in m.state_dict(keep_vars=True).items()]


@hypothesis.given(
    edits=st.lists(edit, max_size=4),
    strict=st.booleans(),
    assign=st.booleans(),
    seed=st.integers(0, 2**16),
)
@hypothesis.settings(deadline=None)
def test_random_checkpoints_match_torch_and_fail_atomically(edits, strict, assign, seed):
    tm = torch_model()
    mm = minimod_model()
    before = snapshot(mm)
    t_sd = make_sd(edits, seed, lambda a: torch.from_numpy(np.array(a)))
    m_sd = make_sd(edits, seed, lambda a: np.array(a))
    theirs = outcome(tm, t_sd, strict, assign, lambda v: v.tolist(),
                     lambda v: str(v.dtype).replace("torch.", ""))
    ours = outcome(mm, m_sd, strict, assign, lambda v: np.asarray(v).tolist(), lambda v: str(v.dtype))
    assert ours == theirs
    if ours[0] == "error":
        assert snapshot(mm) == before
