"""What goes into the weighted layers (Linear, Conv1d/2d/3d, BatchNorm): dtypes, layouts, sources.

* float64 / float16 / int / bool inputs raise RuntimeError naming the dtype (torch's own text for
  Linear and Conv, whose note adds the fix; minimod's text with the fix for BatchNorm); no silent
  cast. ``module.double()`` / ``.half()`` say that only float32 is supported.
* Non-contiguous, Fortran-ordered, negative-stride and zero-size inputs give the same values as a
  contiguous copy, and Linear/Conv values are checked against float64 numpy references.
* torch CPU tensors (also non-contiguous, also requiring grad) are accepted; outputs are numpy.
"""

from __future__ import annotations

import numpy as np
import pytest

import minimod.nn as nn

_BAD_DTYPES = [np.float64, np.float16, np.int64, np.int32, np.bool_, np.uint8]
_TORCH_NAMES = {"float64": ("Double", "double"), "float16": ("Half", "c10::Half"), "int64": ("Long", "long int"),
                "int32": ("Int", "int"), "bool": ("Bool", "bool"), "uint8": ("Byte", "unsigned char")}  # fmt: skip


def _layers():
    return [
        ("Linear", nn.Linear(3, 4), (2, 3)),
        ("Linear no bias", nn.Linear(3, 4, bias=False), (2, 3)),
        ("Conv1d", nn.Conv1d(3, 4, 3), (1, 3, 6)),
        ("Conv2d", nn.Conv2d(3, 4, 3), (1, 3, 6, 6)),
        ("Conv2d no bias", nn.Conv2d(3, 4, 3, bias=False), (1, 3, 6, 6)),
        ("Conv3d", nn.Conv3d(3, 4, 2), (1, 3, 3, 3, 3)),
        ("BatchNorm1d", nn.BatchNorm1d(3), (2, 3)),
        ("BatchNorm2d", nn.BatchNorm2d(3), (2, 3, 2, 2)),
        ("BatchNorm3d", nn.BatchNorm3d(3), (2, 3, 2, 2, 2)),
    ]


@pytest.mark.parametrize("dtype", _BAD_DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("index", range(9))
def test_other_dtypes_raise_runtime_error_naming_dtype_and_fix(index, dtype):
    label, m, shape = _layers()[index]
    x = np.ones(shape, dtype)
    with pytest.raises(RuntimeError) as info:
        m(x)
    name = np.dtype(dtype).name
    text = str(info.value)
    # Torch's wording names the dtype its own way ("Double", "double"); minimod's names it by numpy's name.
    assert any(n in text for n in (name, *_TORCH_NAMES[name])), (label, text)
    fix = text + "\n".join(getattr(info.value, "__notes__", []))
    if hasattr(info.value, "add_note"):  # notes exist from Python 3.11
        assert "astype(np.float32)" in fix, (label, fix)


def test_linear_and_conv_keep_torch_message_and_add_the_fix_as_a_note():
    with pytest.raises(RuntimeError) as info:
        nn.Linear(3, 4)(np.ones((2, 3)))
    assert str(info.value) == "mat1 and mat2 must have the same dtype, but got Double and Float"
    if hasattr(info.value, "add_note"):
        assert info.value.__notes__ == [
            "minimod computes in float32 only, and the input is float64: convert it with x.astype(np.float32) "
            "(module.double()/.half() are not supported)"
        ]
    # (pytest's match= also searches the notes, so compare str() itself.)
    with pytest.raises(RuntimeError) as info:
        nn.Conv2d(3, 4, 3)(np.ones((1, 3, 5, 5)))
    assert str(info.value) == "Input type (double) and bias type (float) should be the same"
    with pytest.raises(RuntimeError) as info:
        nn.Conv2d(3, 4, 3, bias=False)(np.ones((1, 3, 5, 5)))
    assert str(info.value) == "expected scalar type Double but found Float"


@pytest.mark.parametrize("method", ["double", "half", "bfloat16"])
def test_double_and_half_say_only_float32(method):
    m = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    with pytest.raises(NotImplementedError, match="only float32"):
        getattr(m, method)()
    assert m[0].weight.dtype == np.float32 and m[1].running_mean.dtype == np.float32
    assert m.float() is m  # float32 already: a no-op, as in torch


def _layouts(base):
    """The same values as ``base`` in several memory layouts (each asserted equal to base)."""
    out = {
        "fortran": np.asfortranarray(base),
        "negative_stride": np.ascontiguousarray(np.flip(base, axis=-1)),
        "transposed_back": np.ascontiguousarray(np.moveaxis(base, 0, -1)),
        "every_other": np.repeat(base, 2, axis=-1),
    }
    out["negative_stride"] = np.flip(out["negative_stride"], axis=-1)
    out["transposed_back"] = np.moveaxis(out["transposed_back"], -1, 0)
    out["every_other"] = out["every_other"][..., ::2]
    for x in out.values():
        np.testing.assert_array_equal(x, base)
    assert not out["fortran"].flags.c_contiguous and out["negative_stride"].strides[-1] < 0
    return out


def _ref_linear(m, x):
    w = np.asarray(m.weight, np.float64)
    y = x.astype(np.float64) @ w.T
    return y + np.asarray(m.bias, np.float64) if m.bias is not None else y


def _ref_conv2d(m, x):
    # Direct float64 convolution for stride 1, no padding, groups 1.
    w = np.asarray(m.weight, np.float64)
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    out = np.zeros((n, o, h - kh + 1, wd - kw + 1))
    for i in range(kh):
        for j in range(kw):
            patch = x[:, :, i : i + out.shape[2], j : j + out.shape[3]].astype(np.float64)
            out += np.einsum("nchw,oc->nohw", patch, w[:, :, i, j])
    return out + np.asarray(m.bias, np.float64)[None, :, None, None]


def test_linear_layouts_against_numpy():
    m = nn.Linear(6, 5)
    base = np.random.default_rng(0).standard_normal((4, 3, 6)).astype(np.float32)
    for name, x in _layouts(base).items():
        np.testing.assert_allclose(m(x), _ref_linear(m, x), rtol=1e-5, atol=1e-5, err_msg=name)
    assert m(np.zeros((0, 6), np.float32)).shape == (0, 5)
    assert m(np.zeros((2, 0, 6), np.float32)).shape == (2, 0, 5)
    np.testing.assert_allclose(m(base[0, 0]), _ref_linear(m, base[0, 0]), rtol=1e-5, atol=1e-5)  # 1-D input


def test_conv_layouts_against_numpy():
    m = nn.Conv2d(3, 4, 3)
    base = np.random.default_rng(1).standard_normal((2, 3, 7, 8)).astype(np.float32)
    want = _ref_conv2d(m, base)
    for name, x in _layouts(base).items():
        np.testing.assert_allclose(m(x), want, rtol=1e-4, atol=1e-5, err_msg=name)
    np.testing.assert_allclose(m(base[1]), want[1], rtol=1e-4, atol=1e-5)  # unbatched (C, H, W)
    assert m(np.zeros((0, 3, 7, 8), np.float32)).shape == (0, 4, 5, 6)
    for conv, shape in [(nn.Conv1d(3, 2, 3), (2, 3, 9)), (nn.Conv3d(3, 2, 2), (2, 3, 4, 5, 3))]:
        b = np.random.default_rng(2).standard_normal(shape).astype(np.float32)
        want = conv(b)
        for name, x in _layouts(b).items():
            np.testing.assert_allclose(conv(x), want, rtol=1e-5, atol=1e-6, err_msg=name)
        assert conv(np.zeros((0, *shape[1:]), np.float32)).shape == (0, *want.shape[1:])


def test_torch_tensors_are_accepted():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    for m, shape in [(nn.Linear(4, 3), (5, 4)), (nn.Conv2d(2, 3, 3, padding=1), (1, 2, 5, 5)), (nn.BatchNorm2d(2).eval(), (2, 2, 3, 3))]:
        x = rng.standard_normal(shape).astype(np.float32)
        want = m(x)
        t = torch.from_numpy(x.copy())
        for variant in (t, t.clone().requires_grad_(True), torch.from_numpy(np.asfortranarray(x))):
            y = m(variant)
            assert type(y) is np.ndarray and y.dtype == np.float32
            np.testing.assert_array_equal(y, want)
        # A non-contiguous torch view (transposed twice) works too.
        tt = torch.from_numpy(np.ascontiguousarray(np.swapaxes(x, 0, -1))).transpose(0, -1)
        assert not tt.is_contiguous()
        np.testing.assert_array_equal(m(tt), want)
    with pytest.raises(RuntimeError, match="Double"):
        nn.Linear(4, 3)(torch.ones(2, 4, dtype=torch.float64))
