"""The native storage and ordered registry on their own, against Python's own OrderedDict."""

from __future__ import annotations

import copy
import gc
import pickle
import weakref
from collections import OrderedDict

import numpy as np
import pytest

from minimod import _core


def test_registry_matches_ordereddict_under_random_operations():
    rng = np.random.default_rng(0)
    ref: OrderedDict = OrderedDict()
    reg = _core.Registry()
    keys = [f"k{i}" for i in range(12)] + list(range(6))
    for _ in range(3000):
        op = rng.integers(0, 5)
        key = keys[rng.integers(0, len(keys))]
        if op <= 1:
            value = int(rng.integers(0, 100))
            ref[key] = value
            reg[key] = value
        elif op == 2:
            assert (key in ref) == (key in reg)
            if key in ref:
                del ref[key]
                del reg[key]
            else:
                with pytest.raises(KeyError):
                    del reg[key]
        elif op == 3 and key in ref:
            last = bool(rng.integers(0, 2))
            ref.move_to_end(key, last=last)
            reg.move_to_end(key, last=last)
        assert list(reg.items()) == list(ref.items())
        assert len(reg) == len(ref)


def test_replace_keeps_position():
    reg = _core.Registry([("a", 1), ("b", 2), ("c", 3)])
    reg["b"] = 20
    assert reg.keys() == ["a", "b", "c"]
    assert reg["b"] == 20


def test_mutation_during_iteration_raises_cleanly():
    reg = _core.Registry([("a", 1), ("b", 2), ("c", 3)])
    with pytest.raises(RuntimeError, match="mutated during iteration"):
        for k in reg:
            del reg[k]
    assert reg.keys() == ["b", "c"]
    # replacing a value while iterating is allowed, as with dict
    for k in reg:
        reg[k] = 0
    assert reg.values() == [0, 0]


def test_missing_key_and_bad_key_types():
    reg = _core.Registry()
    with pytest.raises(KeyError):
        reg["nope"]
    with pytest.raises(TypeError, match="registry keys must be str"):
        reg[1.5] = 3
    assert reg.get("nope", 7) == 7
    assert reg.pop("nope", None) is None


def test_registry_pickle_and_deepcopy_keep_order():
    reg = _core.Registry([("z", [1]), ("a", [2])])
    for clone in (pickle.loads(pickle.dumps(reg)), copy.deepcopy(reg)):
        assert clone.items() == [("z", [1]), ("a", [2])]
        assert clone["z"] is not reg["z"]


def test_registry_cycles_are_collected():
    class Holder:
        pass

    h = Holder()
    h.reg = _core.Registry()
    h.reg["self"] = h
    ref = weakref.ref(h)
    del h
    gc.collect()
    assert ref() is None


def test_storage_alignment_zero_fill_and_dtypes():
    for dtype in ["float32", "float64", "int64", "bool", "float16", "uint8"]:
        arr = _core.empty([3, 5], dtype)
        assert arr.dtype == np.dtype(dtype)
        assert arr.ctypes.data % 64 == 0
        assert not arr.any()
    zero_d = _core.empty([], "int64")
    assert zero_d.shape == ()
    with pytest.raises(ValueError, match="negative dimension"):
        _core.empty([2, -1])
    with pytest.raises(TypeError, match="cannot hold dtype"):
        _core.empty([2], "complex64")


def test_numpy_view_outlives_every_other_reference():
    arr = _core.empty([4])
    storage = arr.base
    view = np.asarray(storage)
    view[:] = [1, 2, 3, 4]
    np.testing.assert_array_equal(arr, [1, 2, 3, 4])
    del arr, storage
    gc.collect()
    np.testing.assert_array_equal(view, [1, 2, 3, 4])


def test_read_only_storage_exports_read_only_views():
    arr = _core.empty([2])
    arr.base.read_only = True
    with pytest.raises((ValueError, BufferError)):
        np.asarray(arr.base)[0] = 1.0
    assert not arr.base.numpy().flags.writeable
