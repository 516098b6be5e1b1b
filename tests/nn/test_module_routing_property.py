"""Random sequences of registrations, assignments and deletions: minimod and torch agree.

Each step runs on a torch.nn.Module and a minimod.nn.Module; after every step the outcome
(exception type and normalised message) and the registries (names, None-ness, persistence),
plain attributes and state_dict keys must be the same.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
torch = pytest.importorskip("torch")
st = hypothesis.strategies

import minimod.nn as mnn  # noqa: E402

NAMES = ["a", "b", "c", "training", "forward", "x.y", "", 3]
KINDS = ["param", "module", "array", "buffer", "buffer_np", "none", "int"]
OPS = ["setattr", "register_buffer", "register_parameter", "add_module", "delattr"]


def norm(msg: str) -> str:
    def size(m: re.Match) -> str:
        return repr(tuple(int(x) for x in m.group(1).split(",") if x.strip()))

    msg = re.sub(r"torch\.Size\(\[([^\]]*)\]\)", size, msg)
    msg = re.sub(r"torch\.\w+Tensor\b", "numpy.ndarray", msg)
    # A child module's typename names its framework's module class.
    return msg.replace("torch.nn.modules.module.Module", "M").replace("minimod.nn.module.Module", "M")


def value(fw: str, kind: str):
    if fw == "torch":
        return {
            "param": lambda: torch.nn.Parameter(torch.zeros(2)),
            "module": torch.nn.Module,
            "array": lambda: torch.zeros(2),
            "buffer": lambda: torch.nn.Buffer(torch.zeros(2), persistent=True),
            "buffer_np": lambda: torch.nn.Buffer(torch.zeros(2), persistent=False),
            "none": lambda: None,
            "int": lambda: 5,
        }[kind]()
    return {
        "param": lambda: mnn.Parameter(np.zeros(2, np.float32)),
        "module": mnn.Module,
        "array": lambda: np.zeros(2, np.float32),
        "buffer": lambda: mnn.Buffer(np.zeros(2, np.float32), persistent=True),
        "buffer_np": lambda: mnn.Buffer(np.zeros(2, np.float32), persistent=False),
        "none": lambda: None,
        "int": lambda: 5,
    }[kind]()


def apply(fw: str, m, op: str, name, kind: str, persistent: bool):
    try:
        if op == "setattr":
            if not isinstance(name, str):
                return ("skip",)
            setattr(m, name, value(fw, kind))
        elif op == "register_buffer":
            m.register_buffer(name, value(fw, kind), persistent)
        elif op == "register_parameter":
            m.register_parameter(name, value(fw, kind))
        elif op == "add_module":
            m.add_module(name, value(fw, kind))
        else:
            if not isinstance(name, str):
                return ("skip",)
            delattr(m, name)
    except Exception as e:  # noqa: BLE001
        text = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        return (type(e).__name__, norm(str(text)))
    return ("ok",)


def state(m):
    def reg(d):
        return [(k, v is None) for k, v in d.items()]

    plain = sorted(k for k in m.__dict__ if not k.startswith("_") and k != "training")
    return (
        reg(m._parameters),
        reg(m._buffers),
        reg(m._modules),
        sorted(m._non_persistent_buffers_set),
        plain,
        list(m.state_dict().keys()),
        [n for n, _ in m.named_buffers()],
        kind_of(m.__dict__.get("training", "absent")),
    )


def kind_of(v):
    if isinstance(v, (bool, int, str)) or v is None:
        return v
    if isinstance(v, (torch.nn.Module, mnn.Module)):
        return "module"
    return "array"


step = st.tuples(
    st.sampled_from(OPS), st.sampled_from(NAMES), st.sampled_from(KINDS), st.booleans()
)


@hypothesis.given(st.lists(step, min_size=1, max_size=25))
@hypothesis.settings(deadline=None)
def test_random_registration_sequences_match_torch(steps):
    tm, mm = torch.nn.Module(), mnn.Module()
    for op, name, kind, persistent in steps:
        outcome_t = apply("torch", tm, op, name, kind, persistent)
        outcome_m = apply("minimod", mm, op, name, kind, persistent)
        assert outcome_m == outcome_t, (op, name, kind, persistent)
        assert state(mm) == state(tm), (op, name, kind, persistent)
