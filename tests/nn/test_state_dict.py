"""state_dict / load_state_dict: layout, metadata, hooks, casting, assign, and atomic failure."""

from __future__ import annotations

import re
import warnings
from collections import OrderedDict

import numpy as np
import pytest

import minimod.nn as mnn
from minimod import _core
from minimod._arrays import is_native
from minimod.nn.module import _IncompatibleKeys


def norm(msg: str) -> str:
    def size(m: re.Match) -> str:
        return repr(tuple(int(x) for x in m.group(1).split(",") if x.strip()))

    msg = re.sub(r"torch\.Size\(\[([^\]]*)\]\)", size, msg)
    return re.sub(r"torch\.\w+Tensor\b", "numpy.ndarray", msg)


def P(*values, dtype=np.float32):
    return mnn.Parameter(np.array(values, dtype=dtype))


class Leaf(mnn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("zbuf", np.zeros(2, np.float32))  # registered first, saved after params
        self.weight = P(1.0, 2.0)
        self.register_buffer("tmp", np.zeros(1, np.float32), persistent=False)
        self.bias = P(0.5)
        self.register_buffer("count", np.zeros((), np.int64))


class Tree(mnn.Module):
    def __init__(self):
        super().__init__()
        self.a = Leaf()
        self.w = P(3.0)
        self.b = Leaf()
        self.register_buffer("rb", np.ones(1, np.float32))


def snapshot(m):
    """Every parameter and buffer of the tree (by name, duplicates included), bytes and object."""
    out = {}
    for prefix, mod in m.named_modules(remove_duplicate=False):
        for kind in ("_parameters", "_buffers"):
            for name, v in getattr(mod, kind).items():
                key = (prefix, kind, name)
                out[key] = (v, None if v is None else (v.dtype, v.shape, np.asarray(v).tobytes()))
    return out


def assert_unchanged(m, before):
    after = snapshot(m)
    assert after.keys() == before.keys()
    for key, (obj, data) in before.items():
        assert after[key][0] is obj, key
        assert after[key][1] == data, key


# ---- state_dict ------------------------------------------------------------------------------


def test_key_order_and_metadata():
    t = Tree()
    sd = t.state_dict()
    assert list(sd) == [
        "w", "rb",
        "a.weight", "a.bias", "a.zbuf", "a.count",
        "b.weight", "b.bias", "b.zbuf", "b.count",
    ]
    assert sd._metadata == OrderedDict([("", {"version": 1}), ("a", {"version": 1}), ("b", {"version": 1})])
    sd = t.state_dict(prefix="p.")
    assert list(sd._metadata) == ["p", "p.a", "p.b"]
    assert next(iter(sd)) == "p.w"


def test_values_alias_module_storage():
    t = Tree()
    sd = t.state_dict()
    assert type(sd["a.weight"]) is np.ndarray
    assert sd["a.count"] is t.a.count  # a plain buffer is its own detached value
    sd["a.weight"][0] = 42
    assert t.a.weight[0] == 42
    kv = t.state_dict(keep_vars=True)
    assert kv["a.weight"] is t.a.weight and isinstance(kv["w"], mnn.Parameter)


def test_shared_child_under_every_name_and_none_entries_skipped():
    t = Tree()
    t.again = t.a
    t.register_parameter("pnone", None)
    t.register_buffer("bnone", None)
    t.add_module("cnone", None)
    sd = t.state_dict()
    assert [k for k in sd if k.startswith("again.")] == ["again.weight", "again.bias", "again.zbuf", "again.count"]
    assert "again" in sd._metadata and "pnone" not in sd and "bnone" not in sd


def test_caller_destination_is_returned_without_metadata():
    dest = {}
    assert Tree().state_dict(destination=dest) is dest
    assert not hasattr(dest, "_metadata") and "a.weight" in dest


def test_positional_arguments_warn_and_work():
    dest = OrderedDict()
    with pytest.warns(FutureWarning, match="Positional args are being deprecated"):
        out = Tree().state_dict(dest, "x.", True)
    assert out is dest and isinstance(dest["x.w"], mnn.Parameter)


def test_state_dict_hooks():
    log = []
    t = Tree()
    t.a.register_state_dict_pre_hook(lambda m, prefix, keep: log.append(("pre", prefix, keep)))

    def post(m, sd, prefix, meta):
        log.append(("post", prefix, dict(meta)))

    t.a.register_state_dict_post_hook(post)
    t.state_dict(prefix="r.", keep_vars=True)
    assert log == [("pre", "r.a.", True), ("post", "r.a.", {"version": 1})]

    def bad(m, sd, prefix, meta):
        return {}

    t.b.register_state_dict_post_hook(bad)
    with pytest.raises(RuntimeError, match="state_dict post-hook must return None"):
        t.state_dict()
    with pytest.raises(RuntimeError, match="previously registered via register_state_dict_post_hook"):
        t._register_state_dict_hook(bad)


def test_private_state_dict_hook_replaces_only_at_root():
    t = Tree()
    t.a._register_state_dict_hook(lambda m, sd, prefix, meta: {"child": 1})
    assert "a.weight" in t.state_dict()
    t._register_state_dict_hook(lambda m, sd, prefix, meta: {"root": 1})
    assert t.state_dict() == {"root": 1}


class WithExtra(mnn.Module):
    def __init__(self):
        super().__init__()
        self.w = P(1.0)
        self.extra = {"step": 3}

    def get_extra_state(self):
        return dict(self.extra)

    def set_extra_state(self, state):
        self.extra = state


def test_extra_state_round_trip_and_keys():
    m = WithExtra()
    sd = m.state_dict()
    assert list(sd) == ["w", "_extra_state"] and sd["_extra_state"] == {"step": 3}
    sd["_extra_state"] = {"step": 9}
    m.load_state_dict(sd)
    assert m.extra == {"step": 9}
    with pytest.raises(RuntimeError, match='Missing key\\(s\\) in state_dict: "_extra_state"'):
        m.load_state_dict({"w": np.ones(1)})
    with pytest.raises(RuntimeError, match='Unexpected key\\(s\\) in state_dict: "_extra_state"'):
        Leaf().load_state_dict({**Leaf().state_dict(), "_extra_state": 1})


# ---- load_state_dict: results and messages ---------------------------------------------------


def test_round_trip_and_incompatible_keys_repr():
    src, dst = Tree(), Tree()
    for _, v in src.state_dict().items():
        v[...] = np.arange(v.size).reshape(v.shape) + 7
    res = dst.load_state_dict(src.state_dict())
    assert isinstance(res, _IncompatibleKeys) and isinstance(res, tuple)
    assert repr(res) == str(res) == "<All keys matched successfully>"
    for (k1, a), (k2, b) in zip(src.state_dict().items(), dst.state_dict().items()):
        assert k1 == k2 and np.array_equal(a, b) and not np.shares_memory(a, b)
    res = _IncompatibleKeys(["0.bias"], ["extra"])
    assert repr(res) == "_IncompatibleKeys(missing_keys=['0.bias'], unexpected_keys=['extra'])"
    assert type(res).__name__ == "_IncompatibleKeys" and type(res).__mro__[1].__name__ == "IncompatibleKeys"


def test_strict_false_lists_keys_and_strict_true_message_order():
    t = Tree()
    sd = t.state_dict()
    del sd["a.bias"]
    sd["extra"] = np.zeros(1)
    sd["a.foo"] = np.zeros(1)
    sd["a.tmp"] = np.zeros(1)  # non-persistent: unexpected
    res = t.load_state_dict(sd, strict=False)
    assert res.missing_keys == ["a.bias"]
    assert res.unexpected_keys == ["extra", "a.foo", "a.tmp"]
    sd["b.weight"] = np.zeros(5)
    with pytest.raises(RuntimeError) as info:
        t.load_state_dict(sd)
    assert str(info.value) == (
        "Error(s) in loading state_dict for Tree:\n\t"
        'Missing key(s) in state_dict: "a.bias". \n\t'
        'Unexpected key(s) in state_dict: "extra", "a.foo", "a.tmp". \n\t'
        "size mismatch for b.weight: copying a param with shape (5,) from checkpoint, "
        "the shape in current model is (2,)."
    )


def test_size_mismatch_and_non_tensor_raise_even_without_strict():
    t = Tree()
    sd = t.state_dict()
    sd["w"] = [1.0]
    with pytest.raises(RuntimeError) as info:
        t.load_state_dict(sd, strict=False)
    assert (
        'While copying the parameter named "w", expected torch.Tensor or Tensor-like object '
        "from checkpoint but received <class 'list'>"
    ) in str(info.value)
    sd = t.state_dict()
    sd["a.weight"] = np.zeros((2, 1), np.float32)
    with pytest.raises(RuntimeError, match="size mismatch for a.weight"):
        t.load_state_dict(sd, strict=False)


def test_array_like_that_fails_to_convert_is_reported_per_key():
    class Broken:
        def __array__(self, dtype=None, copy=None):
            raise ValueError("no data")

    t = Tree()
    before = snapshot(t)
    sd = {**t.state_dict(), "w": Broken()}
    with pytest.raises(RuntimeError, match='While copying the parameter named "w", expected torch'):
        t.load_state_dict(sd)
    assert_unchanged(t, before)


def test_none_entries_and_none_children():
    t = Tree()
    t.register_parameter("pnone", None)
    t.add_module("cnone", None)
    sd = t.state_dict()
    sd["pnone"] = np.zeros(1)
    sd["cnone.x"] = np.zeros(1)
    res = t.load_state_dict(sd, strict=False)
    assert res.unexpected_keys == ["pnone"]  # the None child's keys are silently ignored


def test_rejects_non_mappings_and_accepts_registry():
    with pytest.raises(TypeError, match="Expected state_dict to be dict-like, got <class 'list'>."):
        Tree().load_state_dict([])
    leaf = Leaf()
    reg = _core.Registry(list(Leaf().state_dict().items()))
    assert not leaf.load_state_dict(reg).missing_keys


# ---- casting and aliasing ------------------------------------------------------------------


def test_copy_in_place_casts_and_never_aliases():
    leaf = Leaf()
    w = leaf.weight
    src = np.array([5.0, 6.0], np.float64)
    leaf.load_state_dict({"weight": src, "bias": np.array([1.5]), "zbuf": np.ones(2),
                          "count": np.array(7.0)})
    assert leaf.weight is w and w.dtype == np.float32 and w.tolist() == [5.0, 6.0]
    assert leaf.count.dtype == np.int64 and int(leaf.count) == 7
    assert is_native(leaf.zbuf) and not np.shares_memory(leaf.weight, src)
    src[0] = -1
    assert leaf.weight[0] == 5.0
    same = np.array([8.0, 9.0], np.float32)
    leaf.load_state_dict({**leaf.state_dict(), "weight": same})
    same[0] = 0
    assert leaf.weight.tolist() == [8.0, 9.0]


def test_one_element_checkpoint_loads_into_0d():
    leaf = Leaf()
    sd = leaf.state_dict()
    sd["count"] = np.array([4])
    leaf.load_state_dict(sd)
    assert leaf.count.shape == () and int(leaf.count) == 4


def test_accepts_parameters_torch_tensors_and_array_likes():
    class ArrayLike:
        def __init__(self, a):
            self.a = a

        def __array__(self, dtype=None, copy=None):
            return self.a

    leaf = Leaf()
    leaf.load_state_dict({
        "weight": P(3.0, 4.0), "bias": ArrayLike(np.array([2.0])),
        "zbuf": np.array([1, 2], np.int32), "count": np.array(1, np.int64),
    })
    assert leaf.weight.tolist() == [3.0, 4.0] and leaf.bias.tolist() == [2.0]
    assert leaf.zbuf.dtype == np.float32 and leaf.zbuf.tolist() == [1.0, 2.0]


def test_loads_a_torch_state_dict_without_sharing():
    torch = pytest.importorskip("torch")

    class TLeaf(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("zbuf", torch.arange(2, dtype=torch.float32))
            self.weight = torch.nn.Parameter(torch.tensor([1.5, 2.5]))
            self.register_buffer("tmp", torch.zeros(1), persistent=False)
            self.bias = torch.nn.Parameter(torch.tensor([0.25]))
            self.register_buffer("count", torch.tensor(9))

    tsd = TLeaf().state_dict()
    leaf = Leaf()
    assert not leaf.load_state_dict(tsd).missing_keys
    assert leaf.weight.tolist() == [1.5, 2.5] and int(leaf.count) == 9
    tsd["weight"][0] = 100
    assert leaf.weight[0] == 1.5
    # Parameters that require grad (keep_vars=True), with and without assign.
    leaf2 = Leaf()
    leaf2.load_state_dict(TLeaf().state_dict(keep_vars=True))
    assert leaf2.weight.tolist() == [1.5, 2.5]
    tkv = TLeaf().state_dict(keep_vars=True)
    leaf2.load_state_dict(tkv, assign=True)
    assert isinstance(leaf2.weight, mnn.Parameter) and is_native(leaf2.weight)
    assert leaf2.weight.requires_grad and is_native(leaf2.zbuf)
    with torch.no_grad():
        tkv["weight"][0] = -5
        tkv["zbuf"][0] = -5
    assert leaf2.weight[0] == 1.5 and leaf2.zbuf[0] == 0  # native copies, not torch memory
    # And the other way: a minimod state_dict loads into torch.
    tl = TLeaf()
    tl.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in Leaf().state_dict().items()})
    assert tl.weight.tolist() == [1.0, 2.0]


def test_assign_replaces_objects_keeps_checkpoint_dtype_and_requires_grad():
    leaf = Leaf()
    leaf.bias.requires_grad_(False)
    old_w = leaf.weight
    ck_w = np.array([3.0, 4.0], np.float64)
    ck_p = P(9.0)
    zbuf = np.zeros(2, np.float32)
    meta_sd = OrderedDict(weight=ck_w, bias=ck_p, zbuf=zbuf, count=np.array(2))
    meta_sd._metadata = OrderedDict([("", {"version": 1})])
    leaf.load_state_dict(meta_sd, assign=True)
    assert leaf.weight is not old_w and isinstance(leaf.weight, mnn.Parameter)
    assert leaf.weight.dtype == np.float64 and leaf.weight.requires_grad and is_native(leaf.weight)
    assert leaf.bias is ck_p and ck_p.requires_grad is False
    assert is_native(leaf.zbuf) and leaf.zbuf.dtype == np.float32
    assert meta_sd._metadata[""]["assign_to_params_buffers"] is True  # torch writes it too


def test_assign_with_native_buffer_shares_it():
    from minimod._arrays import native_copy

    leaf = Leaf()
    zbuf = native_copy(np.array([1.0, 2.0], np.float32))
    leaf.load_state_dict({**leaf.state_dict(), "zbuf": zbuf}, assign=True)
    assert leaf.zbuf is zbuf


# ---- load hooks ------------------------------------------------------------------------------


def test_load_pre_and_post_hooks():
    log = []
    t = Tree()

    def pre(module, sd, prefix, meta, strict, missing, unexpected, errors):
        log.append(("pre", type(module).__name__, prefix, strict))
        if prefix == "":
            sd["b.weight"] = np.array([7.0, 8.0])  # a parent hook can feed its children

    def private_pre(sd, prefix, meta, strict, missing, unexpected, errors):
        log.append(("private", prefix))

    def post(module, keys):
        log.append(("post", type(module).__name__, list(keys.missing_keys)))
        keys.missing_keys.clear()

    t.register_load_state_dict_pre_hook(pre)
    t.b.register_load_state_dict_pre_hook(pre)
    t.a._register_load_state_dict_pre_hook(private_pre)
    t.a.register_load_state_dict_post_hook(post)
    t.register_load_state_dict_post_hook(post)
    sd = t.state_dict()
    del sd["b.weight"], sd["a.bias"]
    t.load_state_dict(sd, strict=False)  # pre-hooks still receive strict=True
    assert t.b.weight.tolist() == [7.0, 8.0]
    assert log == [
        ("pre", "Tree", "", True),
        ("private", "a."),
        ("post", "Leaf", ["a.bias"]),
        ("pre", "Leaf", "b.", True),
        ("post", "Tree", []),
    ]
    t.load_state_dict({k: v for k, v in t.state_dict().items() if k != "w"})  # post clears


def test_post_hook_returning_a_value_is_an_error():
    t = Tree()
    t.a.register_load_state_dict_post_hook(lambda m, k: k)
    with pytest.raises(AssertionError, match="not expected to return new values"):
        t.load_state_dict(t.state_dict())


class VersionedLeaf(Leaf):
    """A BatchNorm-style override: versions before 2 had no `count`."""

    _version = 2

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        version = local_metadata.get("version", None)
        if (version is None or version < 2) and prefix + "count" not in state_dict:
            state_dict[prefix + "count"] = np.array(0)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)


def test_versioned_override_of_load_from_state_dict():
    m = VersionedLeaf()
    m.count[...] = 5
    sd = dict(m.state_dict())
    del sd["count"]
    m.load_state_dict(sd)  # no metadata: treated as old
    assert int(m.count) == 0
    sd2 = m.state_dict()
    assert sd2._metadata[""] == {"version": 2}
    del sd2["count"]
    with pytest.raises(RuntimeError, match='Missing key\\(s\\) in state_dict: "count"'):
        m.load_state_dict(sd2)


def test_load_from_state_dict_called_directly_writes_valid_copies():
    leaf = Leaf()
    missing, unexpected, errors = [], [], []
    leaf._load_from_state_dict({"weight": np.array([4.0, 4.0]), "bias": np.zeros(3)}, "", {},
                               True, missing, unexpected, errors)
    assert leaf.weight.tolist() == [4.0, 4.0]
    assert missing == ["zbuf", "count"] and len(errors) == 1


# ---- atomicity: a failing load changes nothing ----------------------------------------------


def _failing_loads():
    def sd_with(**changes):
        def make(t):
            sd = t.state_dict()
            sd = OrderedDict((k, np.array(v) + 1) for k, v in sd.items())  # every value differs
            for k, v in changes.items():
                k = k.replace("__", ".")
                if v is None:
                    del sd[k]
                else:
                    sd[k] = v
            return sd

        return make

    return {
        "missing": (sd_with(a__bias=None), {}),
        "unexpected": (sd_with(extra=np.zeros(1)), {}),
        "size mismatch": (sd_with(b__weight=np.zeros(3)), {}),
        "size mismatch non-strict": (sd_with(b__weight=np.zeros(3)), {"strict": False}),
        "bad value": (sd_with(b__count="seven"), {}),
        "bad value non-strict": (sd_with(rb=[1.0]), {"strict": False}),
        "uncastable dtype": (sd_with(b__zbuf=np.array(["x", "y"])), {"strict": False}),
        "object dtype": (sd_with(w=np.array([object()])), {"strict": False}),
        "assign missing": (sd_with(a__bias=None), {"assign": True}),
        "assign int into grad param": (sd_with(b__bias=np.array([1], np.int64)), {"assign": True}),
    }


FAILING = _failing_loads()


@pytest.mark.parametrize("case", sorted(FAILING))
def test_failing_load_changes_nothing(case):
    make_sd, kwargs = FAILING[case]
    t = Tree()
    t.shared = t.a
    t.b.weight = t.a.weight  # tied
    before = snapshot(t)
    sd = make_sd(t)
    with pytest.raises(RuntimeError):
        t.load_state_dict(sd, **kwargs)
    assert_unchanged(t, before)


def test_hook_failures_change_nothing():
    for install in (
        lambda t: t.b.register_load_state_dict_pre_hook(lambda *a: 1 / 0),
        lambda t: t.register_load_state_dict_post_hook(lambda m, k: "value"),
        lambda t: t.b.register_load_state_dict_post_hook(lambda m, k: 1 / 0),
    ):
        t = Tree()
        install(t)
        sd = OrderedDict((k, np.array(v) + 1) for k, v in t.state_dict().items())
        before = snapshot(t)
        with pytest.raises((ZeroDivisionError, AssertionError)):
            t.load_state_dict(sd)
        assert_unchanged(t, before)


def test_successful_load_after_failure_applies_everything():
    t = Tree()
    sd = OrderedDict((k, np.array(v) + 1) for k, v in t.state_dict().items())
    bad = OrderedDict(sd, extra=np.zeros(1))
    with pytest.raises(RuntimeError):
        t.load_state_dict(bad)
    t.load_state_dict(sd)
    for k, v in t.state_dict().items():
        assert np.array_equal(v, sd[k].astype(v.dtype)), k


def test_complex_checkpoint_warns_in_validation_not_in_apply():
    t = Leaf()
    before = snapshot(t)
    sd = t.state_dict()
    sd = {**sd, "weight": np.array([1 + 1j, 2 + 0j]), "bias": np.zeros(5)}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the ComplexWarning becomes a per-key error message
        with pytest.raises(RuntimeError, match='While copying the parameter named "weight"'):
            t.load_state_dict(sd)
    assert_unchanged(t, before)


# ---- parity of messages with torch -----------------------------------------------------------


def test_load_errors_match_torch():
    torch = pytest.importorskip("torch")

    def build(nn, T, Pm, I0):
        class L(nn.Module):
            def __init__(self):
                super().__init__()
                self.weight = Pm(T(3, 2))
                self.register_buffer("rm", T(3))
                self.register_buffer("nb", T(1), persistent=False)
                self.register_buffer("cnt", I0())

        class R(nn.Module):
            def __init__(self):
                super().__init__()
                self.x = L()
                self.y = L()
                self.z = Pm(T(1))

        return R()

    frameworks = {
        "torch": (torch.nn, lambda *s: torch.zeros(*s), torch.nn.Parameter,
                  lambda: torch.zeros((), dtype=torch.int64)),
        "minimod": (mnn, lambda *s: np.zeros(s, np.float32), mnn.Parameter,
                    lambda: np.zeros((), np.int64)),
    }

    def scenarios(T):
        def sd(m, **changes):
            out = OrderedDict(m.state_dict())
            for k, v in changes.items():
                k = k.replace("__", ".")
                if v is None:
                    out.pop(k)
                else:
                    out[k] = v
            return out

        return [
            lambda m: m.load_state_dict(sd(m, x__weight=None, extra=T(1), y__nb=T(1))),
            lambda m: m.load_state_dict(sd(m, x__weight=T(5, 2)), strict=False),
            lambda m: m.load_state_dict(sd(m, y__rm=3), strict=False),
            lambda m: m.load_state_dict(sd(m, x__weight=None, y__rm=T(2), y__q=T(1))),
            lambda m: m.load_state_dict(sd(m, z=T(1, 1))),
            lambda m: m.load_state_dict(5),
            lambda m: repr(m.load_state_dict(sd(m, zz=T(1), x__weight=None), strict=False)),
            lambda m: repr(m.load_state_dict(sd(m))),
            lambda m: m.load_state_dict(sd(m, x__cnt=T(1))),
        ]

    results = {}
    for name, (nn, T, Pm, I0) in frameworks.items():
        out = []
        for scenario in scenarios(T):
            m = build(nn, T, Pm, I0)
            try:
                out.append(("ok", scenario(m)))
            except Exception as e:  # noqa: BLE001
                out.append((type(e).__name__, norm(str(e))))
        results[name] = out
    assert results["minimod"] == results["torch"]
