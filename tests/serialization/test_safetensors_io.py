"""minimod.save / minimod.load through safetensors (no torch needed).

Files with dtypes numpy lacks (BF16, F8) are written here by hand from the format's published
layout (u64 header length, JSON header, raw little-endian bytes), independently of the package.
"""

from __future__ import annotations

import json
import os
import struct
from collections import OrderedDict

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import save_file

import minimod
from minimod._arrays import is_native
from minimod.nn import Parameter
from minimod.serialization import CheckpointError

DTYPES = ["float64", "float32", "int64", "int32", "int16", "int8", "uint8", "bool",
          "uint16", "uint32", "uint64", "complex64"]  # fmt: skip


def sample(dtype: str, shape, rng) -> np.ndarray:
    n = int(np.prod(shape))
    dt = np.dtype(dtype)
    if dt == np.bool_:
        return (rng.integers(0, 2, n) > 0).reshape(shape)
    if dt.kind == "c":
        return (rng.standard_normal(n) + 1j * rng.standard_normal(n)).astype(dt).reshape(shape)
    if dt.kind == "f":
        return rng.standard_normal(n).astype(dt).reshape(shape)
    info = np.iinfo(dt)
    return rng.integers(info.min, info.max, n, dtype=dt, endpoint=True).reshape(shape)


def hand_written(path, tensors: dict[str, tuple[str, list, bytes]], metadata=None) -> None:
    header, blobs, at = {}, [], 0
    for name, (dtype, shape, data) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [at, at + len(data)]}
        blobs.append(data)
        at += len(data)
    if metadata is not None:
        header["__metadata__"] = metadata
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as fh:
        fh.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def test_round_trip_every_dtype_shape_and_order(tmp_path):
    rng = np.random.default_rng(0)
    sd = OrderedDict()
    for i, dt in enumerate(DTYPES):
        sd[f"z{i}.{dt}"] = sample(dt, (3, 2), rng)  # names not in sorted order on purpose
    sd["scalar"] = np.array(2.5, dtype=np.float32)
    sd["empty"] = np.zeros((0, 4), dtype=np.float32)
    sd["a.first"] = rng.standard_normal(5).astype(np.float32)
    minimod.save(sd, tmp_path / "m.safetensors")
    out = minimod.load(tmp_path / "m.safetensors")
    assert list(out) == list(sd)  # the state_dict order survives safetensors' sorting
    for k, v in sd.items():
        assert out[k].dtype == v.dtype and out[k].shape == v.shape, k
        np.testing.assert_array_equal(out[k], v)
        assert out[k].flags.c_contiguous and out[k].flags.writeable
    assert is_native(out["a.first"]) and is_native(out["z1.float32"])


def test_float16_is_upcast_on_load(tmp_path):
    half = np.array([1.5, -2.25, 65504.0, 6e-8], dtype=np.float16)
    minimod.save({"h": half}, tmp_path / "h.safetensors")
    out = minimod.load(tmp_path / "h.safetensors")["h"]
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, half.astype(np.float64))


def test_bfloat16_is_upcast_exactly(tmp_path):
    rng = np.random.default_rng(1)
    values = (rng.standard_normal((2, 3)).astype(np.float32).view(np.uint32) & 0xFFFF0000)
    expected = values.view(np.float32)
    bits = (values >> 16).astype("<u2").tobytes()
    hand_written(tmp_path / "b.safetensors", {"b": ("BF16", [2, 3], bits),
                                              "f": ("F32", [1], np.float32([3]).tobytes())})  # fmt: skip
    out = minimod.load(tmp_path / "b.safetensors")
    assert out["b"].dtype == np.float32 and out["b"].shape == (2, 3)
    np.testing.assert_array_equal(out["b"], expected)
    assert list(out) == ["b", "f"]  # no minimod metadata: the file's (sorted) order


def test_dtype_numpy_cannot_hold_is_refused_by_name(tmp_path):
    hand_written(tmp_path / "f8.safetensors", {"q": ("F8_E4M3", [4], bytes(4))})
    with pytest.raises(CheckpointError, match="'q' has dtype F8_E4M3"):
        minimod.load(tmp_path / "f8.safetensors")


def test_non_contiguous_and_parameter_values_are_written_by_value(tmp_path):
    base = np.arange(24, dtype=np.float32).reshape(4, 6)
    sd = OrderedDict(
        t=base.T,  # Fortran-ordered view
        s=base[::2, 1::2],  # strided view
        r=base[:, ::-1],  # negative stride
        p=Parameter(np.ones((2, 2), dtype=np.float32)),
        big=base.astype(">f4"),  # big-endian input
    )
    minimod.save(sd, tmp_path / "v.safetensors")
    out = minimod.load(tmp_path / "v.safetensors")
    for k, v in sd.items():
        np.testing.assert_array_equal(out[k], np.asarray(v))
    assert type(out["p"]) is np.ndarray and out["big"].dtype == np.float32


def test_header_metadata(tmp_path):
    sd = OrderedDict(w=np.zeros(2, np.float32), n=np.array(0, np.int64))
    sd._metadata = OrderedDict([("", {"version": 1}), ("bn", {"version": 2})])
    minimod.save(sd, tmp_path / "m.safetensors", metadata={"author": "me"})
    with safe_open(str(tmp_path / "m.safetensors"), framework="np") as f:
        meta = f.metadata()
    assert meta["author"] == "me"
    assert meta["minimod_version"] == minimod.__version__
    assert json.loads(meta["minimod_dtypes"]) == {"w": "float32", "n": "int64"}
    out = minimod.load(tmp_path / "m.safetensors")
    assert out._metadata == {"": {"version": 1}, "bn": {"version": 2}}
    assert type(out._metadata) is OrderedDict


def test_files_from_other_writers_load(tmp_path):
    arrays = {"b": np.ones(3, np.float32), "a": np.arange(4, dtype=np.int64)}
    save_file(arrays, str(tmp_path / "o.safetensors"))
    out = minimod.load(tmp_path / "o.safetensors")
    assert sorted(out) == ["a", "b"] and not hasattr(out, "_metadata")
    np.testing.assert_array_equal(out["a"], arrays["a"])


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (3, "'x' is a int, not an array"),
        (None, "'x' is a NoneType"),
        ("w", "'x' is a str"),
        ([1.0, 2.0], "'x' is a list"),
        (np.array([object()]), "dtype object"),
        (np.zeros(2, np.complex128), "dtype complex128"),
    ],
)
def test_save_refuses_non_arrays(tmp_path, value, match):
    with pytest.raises(TypeError, match=match):
        minimod.save({"ok": np.zeros(1), "x": value}, tmp_path / "x.safetensors")
    assert os.listdir(tmp_path) == []


def test_save_refuses_bad_keys_containers_and_metadata(tmp_path):
    path = tmp_path / "x.safetensors"
    with pytest.raises(TypeError, match="keys must be str"):
        minimod.save({1: np.zeros(1)}, path)
    with pytest.raises(TypeError, match="expects a state_dict"):
        minimod.save([np.zeros(1)], path)

    class ModuleLike:
        def state_dict(self):
            return {}

    with pytest.raises(TypeError, match=r"pass module\.state_dict\(\)"):
        minimod.save(ModuleLike(), path)
    with pytest.raises(TypeError, match="str -> str"):
        minimod.save({"a": np.zeros(1)}, path, metadata={"epoch": 3})
    with pytest.raises(ValueError, match="reserved"):
        minimod.save({"a": np.zeros(1)}, path, metadata={"minimod_version": "9"})
    assert os.listdir(tmp_path) == []


def test_failed_save_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "w.safetensors"
    minimod.save({"a": np.ones(2, np.float32)}, path)
    old = path.read_bytes()

    import safetensors.numpy

    def exploding_save_file(tensors, filename, metadata=None):
        with open(filename, "wb") as fh:
            fh.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(safetensors.numpy, "save_file", exploding_save_file)
    with pytest.raises(OSError, match="disk full"):
        minimod.save({"a": np.zeros(2, np.float32)}, path)
    assert path.read_bytes() == old
    assert os.listdir(tmp_path) == ["w.safetensors"]


def test_corrupted_safetensors_and_key_are_refused(tmp_path):
    path = tmp_path / "w.safetensors"
    minimod.save({"a": np.ones(64, np.float32)}, path)
    with pytest.raises(CheckpointError, match="one flat state_dict"):
        minimod.load(path, key="state_dict")
    data = path.read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[:-16])
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        minimod.load(tmp_path / "cut.safetensors")
    hand_written(tmp_path / "bad.safetensors", {"a": ("F32", [2], bytes(8))},
                 metadata={"minimod_dtypes": '{"b": "float32"}'})  # fmt: skip
    with pytest.raises(CheckpointError, match="does not list"):
        minimod.load(tmp_path / "bad.safetensors")
