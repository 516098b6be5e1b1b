"""Zero-copy interop: minimod's parameters, buffers and outputs export DLPack, and forward inputs
come in through ``__dlpack__`` / ``__array__`` without a copy.

Memory sharing is checked by data pointers and by writes seen on the other side; results are
checked against float64 numpy references. DeprecationWarnings are errors in this file (numpy 2's
``__array__(dtype=None, copy=None)`` protocol must be followed, not merely tolerated).
"""

from __future__ import annotations

import gc

import numpy as np
import pytest

import minimod.nn as nn

pytestmark = pytest.mark.filterwarnings("error::DeprecationWarning")

KDL_CPU = 1  # DLPack's device type for host memory


def _linear_ref(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    return x.astype(np.float64) @ w.astype(np.float64).T + b.astype(np.float64)


class ArrayOnly:
    """A foreign array that only speaks numpy 2's ``__array__`` protocol, and records calls."""

    def __init__(self, data: np.ndarray) -> None:
        self.data = data
        self.calls: list[tuple] = []

    def __array__(self, dtype=None, copy=None):
        self.calls.append((dtype, copy))
        if copy:
            return np.array(self.data, dtype=dtype, copy=True)
        if dtype is not None and np.dtype(dtype) != self.data.dtype:
            if copy is False:
                raise ValueError("a cast needs a copy")
            return self.data.astype(dtype)
        return self.data


class OldArrayOnly:
    """The numpy 1 ``__array__(self, dtype=None)`` signature: numpy must not need ``copy`` here."""

    def __init__(self, data: np.ndarray) -> None:
        self.data = data

    def __array__(self, dtype=None):
        return self.data if dtype is None else self.data.astype(dtype)


class DLPackOnly:
    """A foreign array that only exports DLPack (no ``__array__``), and records the requests."""

    def __init__(self, data: np.ndarray) -> None:
        self.data = data
        self.requests: list[dict] = []

    def __dlpack__(self, stream=None, max_version=None, dl_device=None, copy=None):
        self.requests.append({"max_version": max_version, "dl_device": dl_device, "copy": copy})
        return self.data.__dlpack__(
            stream=stream, max_version=max_version, dl_device=dl_device, copy=copy
        )

    def __dlpack_device__(self):
        return self.data.__dlpack_device__()


# --- parameters, buffers and outputs out ------------------------------------------------------


def test_parameter_dlpack_protocol_signature():
    p = nn.Linear(4, 3).weight
    assert p.__dlpack_device__() == (KDL_CPU, 0)
    versioned = p.__dlpack__(stream=None, max_version=(1, 0), dl_device=(KDL_CPU, 0), copy=False)
    assert "dltensor_versioned" in repr(versioned)
    legacy = p.__dlpack__(stream=None, max_version=None, dl_device=None, copy=None)
    assert '"dltensor"' in repr(legacy)


def test_parameter_to_numpy_shares_memory_and_copy_true_does_not():
    p = nn.Linear(4, 3).weight
    view = np.from_dlpack(p)
    assert view.ctypes.data == p.ctypes.data
    copied = np.from_dlpack(p, copy=True)
    assert copied.ctypes.data != p.ctypes.data
    np.testing.assert_array_equal(copied, p)


def test_parameter_to_torch_shares_memory_and_writes_reach_forward():
    torch = pytest.importorskip("torch")
    lin = nn.Linear(4, 3)
    w = torch.from_dlpack(lin.weight)
    b = torch.from_dlpack(lin.bias)
    assert w.data_ptr() == lin.weight.ctypes.data
    assert b.data_ptr() == lin.bias.ctypes.data
    assert tuple(w.shape) == (3, 4) and w.dtype == torch.float32
    with torch.no_grad():
        w.copy_(torch.arange(12, dtype=torch.float32).reshape(3, 4))
        b.fill_(0.5)
    x = np.random.default_rng(0).standard_normal((2, 4), dtype=np.float32)
    expected = _linear_ref(x, np.arange(12, dtype=np.float64).reshape(3, 4), np.full(3, 0.5))
    np.testing.assert_allclose(lin(x), expected, rtol=1e-5, atol=1e-5)


def test_buffer_to_torch_shares_memory_and_writes_reach_forward():
    torch = pytest.importorskip("torch")
    bn = nn.BatchNorm2d(2).eval()
    mean = torch.from_dlpack(bn.running_mean)
    var = torch.from_dlpack(bn.running_var)
    assert mean.data_ptr() == bn.running_mean.ctypes.data
    assert var.data_ptr() == bn.running_var.ctypes.data
    mean.copy_(torch.tensor([1.0, -2.0]))
    var.copy_(torch.tensor([4.0, 0.25]))
    x = np.random.default_rng(1).standard_normal((1, 2, 3, 3), dtype=np.float32)
    m = np.array([1.0, -2.0]).reshape(1, 2, 1, 1)
    v = np.array([4.0, 0.25]).reshape(1, 2, 1, 1)
    expected = (x.astype(np.float64) - m) / np.sqrt(v + bn.eps)
    np.testing.assert_allclose(bn(x), expected, rtol=1e-5, atol=1e-5)


def test_forward_output_to_torch_and_numpy_shares_memory():
    torch = pytest.importorskip("torch")
    lin = nn.Linear(4, 3)
    y = lin(np.ones((2, 4), np.float32))
    assert torch.from_dlpack(y).data_ptr() == y.ctypes.data
    assert np.from_dlpack(y).ctypes.data == y.ctypes.data


def test_exported_memory_outlives_the_module():
    torch = pytest.importorskip("torch")
    lin = nn.Linear(64, 64)
    expected = np.array(lin.weight, dtype=np.float64)
    w = torch.from_dlpack(lin.weight)
    del lin
    gc.collect()
    for _ in range(3):  # churn the allocator: freed memory would be reused and overwritten
        nn.Linear(64, 64)
    np.testing.assert_array_equal(w.numpy().astype(np.float64), expected)


def test_state_dict_values_export_dlpack_without_copy():
    torch = pytest.importorskip("torch")
    model = nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3))
    for name, value in model.state_dict().items():
        if value.dtype == np.float32:
            assert torch.from_dlpack(value).data_ptr() == value.ctypes.data, name


# --- inputs in -------------------------------------------------------------------------------


def test_torch_tensor_input_matches_numpy_reference():
    torch = pytest.importorskip("torch")
    lin = nn.Linear(4, 3)
    x = torch.randn(5, 4, generator=torch.Generator().manual_seed(0))
    expected = _linear_ref(x.numpy(), np.asarray(lin.weight), np.asarray(lin.bias))
    np.testing.assert_allclose(lin(x), expected, rtol=1e-5, atol=1e-5)
    # a non-contiguous tensor (every other column of a wider one) gives the same result
    strided = torch.empty(5, 8)[:, ::2]
    strided.copy_(x)
    assert not strided.is_contiguous()
    np.testing.assert_allclose(lin(strided), expected, rtol=1e-5, atol=1e-5)


def test_torch_tensor_input_is_not_copied():
    torch = pytest.importorskip("torch")
    x = torch.tensor([-1.0, 2.0, -3.0, 4.0])
    out = nn.ReLU(inplace=True)(x)
    # An in-place op on a zero-copy view writes into the caller's tensor.
    assert x.tolist() == [0.0, 2.0, 0.0, 4.0]
    assert np.asarray(out).ctypes.data == x.data_ptr()


def test_dlpack_only_object_input_is_not_copied():
    data = np.array([[-1.0, 2.0], [3.0, -4.0]], dtype=np.float32)
    src = DLPackOnly(data)
    out = nn.ReLU(inplace=True)(src)
    np.testing.assert_array_equal(data, [[0.0, 2.0], [3.0, 0.0]])
    assert np.from_dlpack(out).ctypes.data == data.ctypes.data
    assert src.requests and all(r["copy"] is not True for r in src.requests)


def test_dlpack_only_object_into_linear_matches_reference():
    lin = nn.Linear(2, 3)
    data = np.random.default_rng(2).standard_normal((4, 2), dtype=np.float32)
    expected = _linear_ref(data, np.asarray(lin.weight), np.asarray(lin.bias))
    np.testing.assert_allclose(lin(DLPackOnly(data)), expected, rtol=1e-5, atol=1e-5)


def test_array_protocol_object_input_is_not_copied():
    data = np.array([-1.0, 5.0, -0.5], dtype=np.float32)
    src = ArrayOnly(data)
    out = nn.ReLU(inplace=True)(src)
    np.testing.assert_array_equal(data, [0.0, 5.0, 0.0])
    assert np.asarray(out).ctypes.data == data.ctypes.data
    assert src.calls and all(copy is not True for _, copy in src.calls)


def test_numpy1_style_array_object_input_works_without_warning():
    lin = nn.Linear(3, 2)
    data = np.random.default_rng(3).standard_normal((2, 3), dtype=np.float32)
    expected = _linear_ref(data, np.asarray(lin.weight), np.asarray(lin.bias))
    np.testing.assert_allclose(lin(OldArrayOnly(data)), expected, rtol=1e-5, atol=1e-5)


# --- __array__ on minimod's own arrays: numpy 2 semantics --------------------------------------


def test_parameter_array_protocol_follows_numpy2_copy_semantics():
    p = nn.Linear(4, 3).weight
    assert np.asarray(p).ctypes.data == p.ctypes.data
    assert np.array(p, copy=False).ctypes.data == p.ctypes.data
    assert np.array(p, copy=None).ctypes.data == p.ctypes.data
    assert np.array(p).ctypes.data != p.ctypes.data  # copy=True is numpy 2's default for np.array
    assert p.__array__(dtype=None, copy=None).ctypes.data == p.ctypes.data
    assert p.__array__(copy=True).ctypes.data != p.ctypes.data
    with pytest.raises(ValueError, match="copy"):
        np.array(p, dtype=np.float64, copy=False)  # a cast cannot be a view
    cast = np.asarray(p, dtype=np.float64)
    np.testing.assert_array_equal(cast, p.astype(np.float64))
