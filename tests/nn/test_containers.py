"""Containers: Sequential, ModuleList, ModuleDict, ParameterList, ParameterDict.

Two kinds of test:

* ``scenario(rt)`` runs one program of container operations against a runtime (torch.nn or
  minimod.nn) and logs every result: which objects come back (by their creation number, so
  identity is checked, not only type), keys and their order, lengths, reprs, and the type and
  message of every exception. The torch and minimod logs must be equal, after two documented
  normalisations: a class repr ``<class 'torch.nn.modules.container.Sequential'>`` becomes
  ``<class 'Sequential'>`` (the module path differs), and a parameter's dtype in a
  ParameterList/ParameterDict repr line (``torch.float32`` / ``torch.FloatTensor``) becomes
  ``numpy.float32`` (minimod's documented spelling, see containers.py).
* Plain tests with expected values written out by hand, so the containers are tested without
  torch too.

Run as a script to print a diff of the two logs:  python tests/nn/test_containers.py
"""

from __future__ import annotations

import difflib
import pickle
import re
import sys
from collections import OrderedDict
from types import SimpleNamespace

import numpy as np
import pytest

import minimod.nn as mnn

# ----------------------------------------------------------------------------------- the scenario


def _minimod_runtime() -> SimpleNamespace:
    return SimpleNamespace(nn=mnn, zeros=lambda *shape: np.zeros(shape, np.float32))


def _torch_runtime() -> SimpleNamespace:
    import torch

    return SimpleNamespace(nn=torch.nn, zeros=lambda *shape: torch.zeros(shape))


def normalise(text: str) -> str:
    text = re.sub(r"<class '(?:[\w]+\.)*(\w+)'>", r"<class '\1'>", text)
    text = re.sub(r"\[torch\.float32 of size", "[numpy.float32 of size", text)
    return re.sub(r"\[torch\.FloatTensor of size", "[numpy.float32 of size", text)


class _Log:
    """Records results; modules and parameters are named by their creation number."""

    def __init__(self, rt: SimpleNamespace) -> None:
        self.rt = rt
        self.lines: list[str] = []
        self.made: list[object] = []

    def make(self, obj: object) -> object:
        self.made.append(obj)
        return obj

    def describe(self, v: object) -> str:
        for i, m in enumerate(self.made):
            if v is m:
                return f"{type(v).__name__}#{i}"
        if isinstance(v, self.rt.nn.Module):
            return f"new {type(v).__name__}{list(v._modules)}{[self.describe(c) for c in v._modules.values()]}"
        if hasattr(v, "shape") and hasattr(v, "dtype"):
            return f"array{tuple(v.shape)}"
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(self.describe(x) for x in v) + "]"
        return repr(v)

    def __call__(self, label: str, fn) -> object:
        try:
            v = fn()
        except Exception as e:  # noqa: BLE001 - the type and message are what is compared
            self.lines.append(f"{label}: raises {type(e).__name__}: {normalise(str(e))}")
            return None
        self.lines.append(normalise(f"{label}: {self.describe(v)}"))
        return v

    def state(self, label: str, container: object) -> None:
        self.lines.append(f"{label} keys: {list(container._modules)} params: {list(container._parameters)}")
        self.lines.append(f"{label} named_parameters: {[n for n, _ in container.named_parameters()]}")


def scenario(rt: SimpleNamespace) -> list[str]:  # noqa: PLR0915 - one long script, read top to bottom
    nn, zeros = rt.nn, rt.zeros
    log = _Log(rt)
    mk = log.make

    # ---- Sequential
    a, b, c, d = mk(nn.ReLU()), mk(nn.Tanh()), mk(nn.Sigmoid()), mk(nn.Identity())
    s = nn.Sequential(a, b, c, d)
    log.state("seq", s)
    log("len", lambda: len(s))
    log("iter", lambda: list(s))
    for idx in (0, 1, -1, -4, 3, 4, -5, "0", 1.0, np.int64(2), True):
        log(f"seq[{idx!r}]", lambda idx=idx: s[idx])
    for sl in (slice(1, 3), slice(None, None, 2), slice(None, None, -1), slice(5, 9), slice(-2, None)):
        sub = log(f"seq[{sl}]", lambda sl=sl: s[sl])
        log(f"seq[{sl}] type/keys", lambda sub=sub: (type(sub).__name__, list(sub._modules)))
    log("seq repr", lambda: s.__repr__())
    log("seq dir has digits", lambda: any(k.isdigit() for k in dir(s)))
    log("seq[1] = e", lambda: s.__setitem__(1, mk(nn.ReLU6())))
    log("seq[-1] = f", lambda: s.__setitem__(-1, mk(nn.GELU())))
    log("seq[7] = g", lambda: s.__setitem__(7, nn.ReLU()))
    log("seq[1] = 3", lambda: s.__setitem__(1, 3))
    log.state("seq after set", s)
    log("append", lambda: s.append(mk(nn.SiLU())))
    log("append non-module", lambda: s.append(5))
    log("insert 0", lambda: s.insert(0, mk(nn.Hardswish())))
    log("insert -1", lambda: s.insert(-1, mk(nn.LeakyReLU())))
    log("insert len", lambda: s.insert(len(s), mk(nn.Softmax(1))))
    log("insert far", lambda: s.insert(100, nn.ReLU()))
    log("insert far negative", lambda: s.insert(-100, nn.ReLU()))
    log("insert non-module", lambda: s.insert(0, "x"))
    log.state("seq after insert", s)
    log("extend", lambda: s.extend([mk(nn.ReLU()), mk(nn.Tanh())]))
    log("extend seq", lambda: s.extend(nn.Sequential(mk(nn.Sigmoid()))))
    log.state("seq after extend", s)
    log("pop 1", lambda: s.pop(1))
    log("pop -1", lambda: s.pop(-1))
    log("pop 99", lambda: s.pop(99))
    log.state("seq after pop", s)
    log("del 0", lambda: s.__delitem__(0))
    log("del 1:3", lambda: s.__delitem__(slice(1, 3)))
    log("del 42", lambda: s.__delitem__(42))
    log.state("seq after del", s)
    log("seq iter now", lambda: list(s))

    # ---- Sequential arithmetic
    p, q = nn.Sequential(mk(nn.ReLU()), mk(nn.Tanh())), nn.Sequential(mk(nn.Sigmoid()))
    log("p + q", lambda: p + q)
    log("p + list", lambda: p + [nn.ReLU()])
    log("p + module", lambda: p + nn.ReLU())
    log("p * 3", lambda: p * 3)
    log("2 * p", lambda: 2 * p)
    log("p * 0", lambda: p * 0)
    log("p * -1", lambda: p * -1)
    log("p * 1.5", lambda: p * 1.5)
    log("p * 'a'", lambda: p * "a")
    r = nn.Sequential(mk(nn.ReLU6()))
    log("r += q", lambda: r.__iadd__(q))
    log.state("r after +=", r)
    log("r += 3", lambda: r.__iadd__(3))
    log("r *= 2", lambda: r.__imul__(2))
    log.state("r after *=", r)
    log("r *= 0", lambda: r.__imul__(0))

    # ---- Sequential from an OrderedDict; plain dict
    conv, act = mk(nn.Linear(3, 4)), mk(nn.ReLU())
    od = nn.Sequential(OrderedDict([("fc", conv), ("act", act), ("out", mk(nn.Linear(4, 2)))]))
    log.state("named seq", od)
    log("named.fc", lambda: od.fc)
    log("named[1]", lambda: od[1])
    log("named[1:]", lambda: list(od[1:]._modules))
    log("named repr", lambda: repr(od))
    log("named state_dict", lambda: list(od.state_dict()))
    log("named del 0", lambda: od.__delitem__(0))
    log.state("named after del", od)
    log("named append", lambda: od.append(mk(nn.Tanh())))
    log.state("named after append", od)
    log("plain dict", lambda: nn.Sequential({"a": nn.ReLU()}))
    log("non-module arg", lambda: nn.Sequential(nn.ReLU(), 3))
    log("empty seq", lambda: (len(nn.Sequential()), repr(nn.Sequential())))
    nested = nn.Sequential(mk(nn.Linear(2, 2)), nn.Sequential(mk(nn.ReLU()), mk(nn.Linear(2, 1))))
    log("nested repr", lambda: repr(nested))
    log("nested named_modules", lambda: [n for n, _ in nested.named_modules()])
    log("nested state_dict", lambda: list(nested.state_dict()))

    # ---- ModuleList
    r1, r2, l1, l2, l3 = mk(nn.ReLU()), mk(nn.ReLU()), mk(nn.Linear(2, 2)), mk(nn.Linear(2, 2)), mk(nn.Linear(2, 3))
    ml = nn.ModuleList([r1, r2, l1, l2, l3, mk(nn.ReLU())])
    log.state("ml", ml)
    log("ml repr folds", lambda: repr(ml))
    for idx in (0, -1, 5, 6, -7, "1", 2.0):
        log(f"ml[{idx!r}]", lambda idx=idx: ml[idx])
    log("ml[1:4]", lambda: ml[1:4])
    log("ml[1:4] keys", lambda: list(ml[1:4]._modules))
    log("ml[::-1] keys", lambda: list(ml[::-1]._modules))
    log("ml[2] = ", lambda: ml.__setitem__(2, mk(nn.Tanh())))
    log("ml[9] = ", lambda: ml.__setitem__(9, nn.Tanh()))
    log("ml del 0", lambda: ml.__delitem__(0))
    log("ml del -2:", lambda: ml.__delitem__(slice(-2, None)))
    log.state("ml after del", ml)
    log("ml insert 1", lambda: ml.insert(1, mk(nn.Sigmoid())))
    # torch's insert(-1) raises KeyError after shifting half the list; minimod raises before any
    # change (tested below), so the scenario does it on a list of its own.
    log("ml insert -1", lambda: nn.ModuleList([nn.ReLU(), nn.Tanh()]).insert(-1, nn.SiLU()))
    log.state("ml after insert", ml)
    log("ml append", lambda: ml.append(mk(nn.ReLU())))
    log("ml extend", lambda: ml.extend([mk(nn.ReLU()), mk(nn.ReLU())]))
    log("ml extend non-iterable", lambda: ml.extend(5))
    log("ml extend with int", lambda: ml.extend([3]))
    log.state("ml after extend", ml)
    log("ml pop 0", lambda: ml.pop(0))
    log("ml pop -1", lambda: ml.pop(-1))
    log("ml + ml", lambda: ml + nn.ModuleList([mk(nn.Tanh())]))
    log("ml += list", lambda: ml.__iadd__([mk(nn.GELU())]))
    log("ml len/iter", lambda: (len(ml), list(ml)))
    log("ml repr now", lambda: repr(ml))
    log("ml call", lambda: ml(zeros(2)))
    blocks = nn.ModuleList([nn.Sequential(nn.Linear(4, 4), nn.ReLU()) for _ in range(3)] + [nn.Linear(4, 2)])
    log("ml nested fold", lambda: repr(blocks))
    log("ml empty", lambda: repr(nn.ModuleList()))
    log("ml one", lambda: repr(nn.ModuleList([nn.ReLU()])))
    log("ml two different", lambda: repr(nn.ModuleList([nn.ReLU(), nn.ReLU6(), nn.ReLU(), nn.ReLU()])))
    log("ml state_dict", lambda: list(nn.ModuleList([nn.Linear(1, 1), nn.ReLU(), nn.Linear(1, 1)]).state_dict()))

    # ---- ModuleDict
    md = nn.ModuleDict({"b": mk(nn.ReLU()), "a": mk(nn.Linear(2, 2))})  # insertion order, not sorted
    log.state("md", md)
    log("md keys/values/items", lambda: (list(md.keys()), list(md.values()), list(md.items())))
    log("md['a']", lambda: md["a"])
    log("md['zz']", lambda: md["zz"])
    log("md in", lambda: ("a" in md, "zz" in md, len(md)))
    log("md set c", lambda: md.__setitem__("c", mk(nn.Tanh())))
    log("md set b again", lambda: md.__setitem__("b", mk(nn.Sigmoid())))  # keeps its position
    log.state("md after set", md)
    log("md set a.b", lambda: md.__setitem__("a.b", nn.ReLU()))
    log("md set ''", lambda: md.__setitem__("", nn.ReLU()))
    log("md set training", lambda: md.__setitem__("training", nn.ReLU()))
    log("md set non-module", lambda: md.__setitem__("x", 5))
    log("md set int key", lambda: md.__setitem__(3, nn.ReLU()))
    log("md pop", lambda: md.pop("a"))
    log("md pop missing", lambda: md.pop("a"))
    log("md del", lambda: md.__delitem__("c"))
    log.state("md after pop/del", md)
    log("md update pairs", lambda: md.update([("y", mk(nn.ReLU())), ("x", mk(nn.ReLU6()))]))
    log("md update OrderedDict", lambda: md.update(OrderedDict([("z", mk(nn.GELU()))])))
    log("md update ModuleDict", lambda: md.update(nn.ModuleDict({"w": mk(nn.SiLU())})))
    log("md update int", lambda: md.update(3))
    log("md update bad element", lambda: md.update([3]))
    log("md update triple", lambda: md.update([("p", nn.ReLU(), 1)]))
    log.state("md after update", md)
    log("md repr", lambda: repr(md))
    log("md state_dict", lambda: list(md.state_dict()))
    log("md clear", lambda: md.clear())
    log("md after clear", lambda: (len(md), repr(md)))
    log("md call", lambda: md(zeros(2)))

    # ---- ParameterList
    w0, w1 = mk(nn.Parameter(zeros(2, 3))), mk(nn.Parameter(zeros(4)))
    pl = nn.ParameterList([w0, w1])
    log.state("pl", pl)
    log("pl[0]/[-1]", lambda: (pl[0], pl[-1]))
    log("pl[2]", lambda: pl[2])
    log("pl['0']", lambda: pl["0"])
    log("pl append plain tensor", lambda: pl.append(zeros(5)))
    log("pl[2] is Parameter", lambda: type(pl[2]).__name__)
    log("pl append string", lambda: pl.append("hello"))
    log("pl[3]", lambda: pl[3])
    log.state("pl after append", pl)
    log("pl len/iter", lambda: (len(pl), list(pl)))
    log("pl slice", lambda: pl[1:3])
    log("pl slice keys", lambda: list(pl[1:3]._parameters))
    log("pl extend non-iterable", lambda: pl.extend(3))
    log("pl extend", lambda: pl.extend([mk(nn.Parameter(zeros(1)))]))
    log("pl += ", lambda: pl.__iadd__([zeros(2, 2)]))
    log("pl[0] = ", lambda: pl.__setitem__(0, mk(nn.Parameter(zeros(7)))))
    log("pl[10] = ", lambda: pl.__setitem__(10, zeros(1)))
    log.state("pl final", pl)
    log("pl repr", lambda: repr(pl))
    log("pl state_dict", lambda: list(pl.state_dict()))
    log("pl call", lambda: pl(zeros(1)))
    log("pl empty repr", lambda: repr(nn.ParameterList()))
    log("pl of modules", lambda: repr(nn.ParameterList([nn.Parameter(zeros(1)), nn.ReLU()])))

    # ---- ParameterDict
    pa, pb, pc = mk(nn.Parameter(zeros(2))), mk(nn.Parameter(zeros(3))), mk(nn.Parameter(zeros(1, 1)))
    pd = nn.ParameterDict({"zeta": pa, "alpha": pb})  # a plain dict is taken in sorted order
    log.state("pd", pd)
    log("pd keys/values/items", lambda: (list(pd.keys()), list(pd.values()), list(pd.items())))
    pdo = nn.ParameterDict(OrderedDict([("zeta", pa), ("alpha", pb)]))
    log.state("pd ordered", pdo)
    log("pd['alpha']", lambda: pd["alpha"])
    log("pd['nope']", lambda: pd["nope"])
    log("pd[3]", lambda: pd[3])
    # torch's pd[3] = p raises but keeps the key 3, poisoning the dict; minimod changes nothing
    # (tested below), so the scenario does this on a dict of its own.
    log("pd set 3", lambda: nn.ParameterDict().__setitem__(3, pc))
    log("pd set plain", lambda: pd.__setitem__("mid", zeros(4)))
    log("pd mid type", lambda: type(pd["mid"]).__name__)
    log("pd set string value", lambda: pd.__setitem__("name", "text"))
    log.state("pd after set", pd)
    log("pd in/len", lambda: ("alpha" in pd, "nope" in pd, len(pd), list(pd)))
    log("pd get", lambda: (pd.get("alpha"), pd.get("nope"), pd.get("nope", 3)))
    log("pd setdefault existing", lambda: pd.setdefault("alpha", pc))
    log("pd setdefault new", lambda: pd.setdefault("new", pc))
    log("pd pop", lambda: pd.pop("zeta"))
    log("pd pop missing", lambda: pd.pop("zeta"))
    log("pd popitem", lambda: pd.popitem())
    log.state("pd after pops", pd)
    log("pd copy", lambda: list(pd.copy().items()))
    log("pd fromkeys", lambda: list(pd.fromkeys(["u", "v"], pc).items()))
    log("pd reversed", lambda: list(reversed(pd)))
    log("pd | ", lambda: list((pd | nn.ParameterDict({"q": pc})).keys()))
    log("pd |= ", lambda: list(pd.__ior__(nn.ParameterDict({"r": pc})).keys()))
    log("pd update int", lambda: pd.update(3))
    log("pd update bad element", lambda: pd.update([3]))
    log("pd update triple", lambda: pd.update([("a", pc, 1)]))
    log("pd update pairs", lambda: pd.update([("b2", pc), ("a2", pc)]))
    log.state("pd final", pd)
    log("pd repr", lambda: repr(pd))
    log("pd state_dict", lambda: list(pd.state_dict()))
    log("pd del", lambda: pd.__delitem__("alpha"))
    log("pd del missing", lambda: pd.__delitem__("alpha"))
    log("pd clear", lambda: (pd.clear(), len(pd), repr(pd)))
    log("pd call", lambda: pd(zeros(1)))

    # ---- containers inside a model
    model = nn.Sequential(
        OrderedDict([
            ("features", nn.ModuleList([nn.Linear(3, 3), nn.ReLU()])),
            ("heads", nn.ModuleDict({"cls": nn.Linear(3, 2)})),
            ("extra", nn.ParameterList([nn.Parameter(zeros(2))])),
            ("scales", nn.ParameterDict({"s": nn.Parameter(zeros(1))})),
        ])
    )  # fmt: skip
    log("model state_dict", lambda: list(model.state_dict()))
    log("model named_modules", lambda: [n for n, _ in model.named_modules()])
    log("model repr", lambda: repr(model))
    log("model get_submodule", lambda: model.get_submodule("features.1"))
    log("model get_parameter", lambda: tuple(model.get_parameter("extra.0").shape))
    return log.lines


def test_containers_scenario_matches_torch():
    pytest.importorskip("torch")
    ours, theirs = scenario(_minimod_runtime()), scenario(_torch_runtime())
    if ours != theirs:
        diff = "\n".join(difflib.unified_diff(theirs, ours, "torch", "minimod", lineterm="", n=1))
        pytest.fail("container logs differ:\n" + diff)


def test_scenario_log_is_substantial_and_records_errors():
    # The scenario itself must exercise the error paths; this guards against a refactor that
    # silently stops logging (then the parity test above would compare two empty logs).
    lines = scenario(_minimod_runtime())
    assert len(lines) > 200
    assert sum(": raises " in line for line in lines) > 40


# ----------------------------------------------------------------------------------- without torch


def test_sequential_indexing_and_slices():
    a, b, c = mnn.ReLU(), mnn.Tanh(), mnn.Sigmoid()
    s = mnn.Sequential(a, b, c)
    assert s[0] is a and s[-1] is c and s[-3] is a
    sub = s[1:]
    assert type(sub) is mnn.Sequential and list(sub._modules) == ["1", "2"]
    assert sub[0] is b and sub[1] is c
    with pytest.raises(IndexError, match="^index 3 is out of range$"):
        s[3]
    with pytest.raises(IndexError, match="^index -4 is out of range$"):
        s[-4]
    with pytest.raises(TypeError):
        s["0"]


def test_sequential_mutation_renumbers():
    a, b, c, d = mnn.ReLU(), mnn.Tanh(), mnn.Sigmoid(), mnn.GELU()
    s = mnn.Sequential(a, b)
    assert s.append(c) is s
    s.insert(0, d)
    assert list(s) == [d, a, b, c] and list(s._modules) == ["0", "1", "2", "3"]
    assert s.pop(1) is a
    assert list(s) == [d, b, c] and list(s._modules) == ["0", "1", "2"]
    del s[-1]
    assert list(s) == [d, b]
    s.extend([a, c])
    assert list(s) == [d, b, a, c] and len(s) == 4
    del s[::2]
    assert list(s) == [b, c] and list(s._modules) == ["0", "1"]
    with pytest.raises(IndexError, match="^Index out of range: 3$"):
        s.insert(3, a)
    with pytest.raises(AssertionError):
        s.insert(0, 5)


def test_sequential_forward_applies_in_order_against_numpy():
    x = np.linspace(-4, 4, 17, dtype=np.float32)
    s = mnn.Sequential(mnn.ReLU6(), mnn.Tanh(), mnn.Sigmoid())
    want = 1 / (1 + np.exp(-np.tanh(np.clip(x.astype(np.float64), 0, 6))))
    np.testing.assert_allclose(s(x), want, rtol=1e-6)


def test_sequential_arithmetic():
    a, b = mnn.ReLU(), mnn.Tanh()
    p, q = mnn.Sequential(a), mnn.Sequential(b)
    assert list(p + q) == [a, b]
    assert list(p * 3) == [a, a, a] and list(2 * q) == [b, b]
    p += q
    assert list(p) == [a, b]
    p *= 2
    assert list(p) == [a, b, a, b] and list(p._modules) == ["0", "1", "2", "3"]
    with pytest.raises(ValueError, match="add operator supports only objects of Sequential class"):
        p + [a]
    with pytest.raises(ValueError, match="Non-positive multiplication factor 0"):
        p * 0
    with pytest.raises(TypeError, match="unsupported operand type"):
        p * 1.5


def test_sequential_from_ordered_dict_keeps_names():
    fc, act = mnn.Linear(2, 3), mnn.ReLU()
    s = mnn.Sequential(OrderedDict([("fc", fc), ("act", act)]))
    assert s.fc is fc and s[1] is act
    assert list(s.state_dict()) == ["fc.weight", "fc.bias"]
    assert list(s[1:]._modules) == ["act"]
    assert repr(s) == "Sequential(\n  (fc): Linear(in_features=2, out_features=3, bias=True)\n  (act): ReLU()\n)"


def test_module_list_repr_folds_runs():
    ml = mnn.ModuleList([mnn.ReLU(), mnn.ReLU(), mnn.Linear(2, 2), mnn.ReLU(), mnn.ReLU(), mnn.ReLU()])
    assert repr(ml) == (
        "ModuleList(\n"
        "  (0-1): 2 x ReLU()\n"
        "  (2): Linear(in_features=2, out_features=2, bias=True)\n"
        "  (3-5): 3 x ReLU()\n"
        ")"
    )
    nested = mnn.ModuleList([mnn.Sequential(mnn.ReLU()) for _ in range(2)])
    assert repr(nested) == "ModuleList(\n  (0-1): 2 x Sequential(\n    (0): ReLU()\n  )\n)"


def test_module_list_slicing_renumbers_and_insert_shifts():
    mods = [mnn.ReLU() for _ in range(4)]
    ml = mnn.ModuleList(mods)
    sub = ml[1:3]
    assert type(sub) is mnn.ModuleList and list(sub._modules) == ["0", "1"] and list(sub) == mods[1:3]
    new = mnn.Tanh()
    ml.insert(1, new)
    assert list(ml) == [mods[0], new, *mods[1:]]
    with pytest.raises(TypeError, match="^ModuleList.extend should be called with an iterable, but got int$"):
        ml.extend(3)


def test_module_list_insert_bad_input_leaves_the_list_intact():
    # Documented differences from torch, whose insert corrupts the list on these inputs.
    a, b, c = mnn.ReLU(), mnn.Tanh(), mnn.GELU()
    ml = mnn.ModuleList([a, b])
    with pytest.raises(KeyError, match="-1"):  # torch's exception, raised before any change
        ml.insert(-1, c)
    assert list(ml) == [a, b] and list(ml._modules) == ["0", "1"]
    with pytest.raises(TypeError, match="^int is not a Module subclass$"):
        ml.insert(0, 3)
    assert list(ml) == [a, b]
    ml.insert(10, c)  # past the end: appended, as list.insert does (torch leaves key '10')
    assert list(ml) == [a, b, c] and list(ml._modules) == ["0", "1", "2"]
    ml.insert(0, c)
    assert list(ml) == [c, a, b, c] and ml[3] is c


def test_module_dict_order_and_errors():
    a, b = mnn.ReLU(), mnn.Tanh()
    md = mnn.ModuleDict({"b": a, "a": b})
    assert list(md) == ["b", "a"] and list(md.values()) == [a, b]
    c = mnn.GELU()
    md["b"] = c
    assert list(md.items()) == [("b", c), ("a", b)]
    with pytest.raises(KeyError, match=r"module name can.{1,2}t contain"):
        md["x.y"] = a
    with pytest.raises(TypeError, match="is not a Module subclass"):
        md["z"] = 3
    with pytest.raises(ValueError, match="^ModuleDict update sequence element #0 has length 3; 2 is required$"):
        md.update([("p", a, 1)])
    assert md.pop("a") is b and list(md) == ["b"]


def test_parameter_list_wraps_arrays_and_registers():
    raw = np.ones((2, 2), np.float32)
    pl = mnn.ParameterList([raw, mnn.Parameter(np.zeros(3, np.float32))])
    assert isinstance(pl[0], mnn.Parameter)
    np.testing.assert_array_equal(pl[0], raw)
    assert [n for n, _ in pl.named_parameters()] == ["0", "1"]
    assert list(pl.state_dict()) == ["0", "1"]
    assert repr(pl) == (
        "ParameterList(\n"
        "    (0): Parameter containing: [numpy.float32 of size 2x2]\n"
        "    (1): Parameter containing: [numpy.float32 of size 3]\n"
        ")"
    )
    with pytest.raises(RuntimeError, match="^ParameterList should not be called.$"):
        pl(raw)


def test_parameter_dict_sorted_from_plain_dict():
    pz, pa = mnn.Parameter(np.zeros(1, np.float32)), mnn.Parameter(np.zeros(2, np.float32))
    pd = mnn.ParameterDict({"z": pz, "a": pa})
    assert list(pd) == ["a", "z"]
    assert list(mnn.ParameterDict(OrderedDict([("z", pz), ("a", pa)]))) == ["z", "a"]
    assert pd.pop("a") is pa and list(pd.keys()) == ["z"]
    with pytest.raises(TypeError, match="not a string"):
        pd[1] = pz
    # A failed set leaves nothing behind (torch keeps the key 1 and then fails on every repr).
    assert list(pd) == ["z"] and len(pd) == 1
    assert repr(pd) == "ParameterDict(  (z): Parameter containing: [numpy.float32 of size 1])"
    assert list((pd | mnn.ParameterDict({"b": pa})).keys()) == ["z", "b"]


def test_containers_pickle_and_state_dict_round_trip():
    model = mnn.Sequential(mnn.ModuleList([mnn.Linear(2, 2)]), mnn.ModuleDict({"h": mnn.Linear(2, 1)}))
    clone = pickle.loads(pickle.dumps(model))
    assert repr(clone) == repr(model)
    for (k1, v1), (k2, v2) in zip(model.state_dict().items(), clone.state_dict().items()):
        assert k1 == k2
        np.testing.assert_array_equal(v1, v2)


if __name__ == "__main__":
    ours, theirs = scenario(_minimod_runtime()), scenario(_torch_runtime())
    print("\n".join(difflib.unified_diff(theirs, ours, "torch", "minimod", lineterm="", n=1)) or "identical")
    sys.exit(ours != theirs)
