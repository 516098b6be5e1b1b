"""The torch-free .pt reader on archives built by hand (no torch needed).

Expected values come from numpy: a tensor element at index i is storage[offset + sum(i*stride)],
gathered here with np.indices, independently of the reader's as_strided view.
"""

from __future__ import annotations

import pickle
from collections import OrderedDict

import numpy as np
import pytest
from ckpt_writer import (
    Build,
    Call,
    Global,
    dumps,
    le_bytes,
    storage_ref,
    tensor,
    write_archive,
)
from hypothesis import given
from hypothesis import strategies as st

import minimod
from minimod._arrays import is_native
from minimod.serialization import CheckpointError

STORAGE_CLASSES = {
    "DoubleStorage": np.float64,
    "FloatStorage": np.float32,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
    "ComplexFloatStorage": np.complex64,
    "ComplexDoubleStorage": np.complex128,
}


def gather(flat: np.ndarray, offset: int, size: tuple, stride: tuple) -> np.ndarray:
    """The tensor torch would build, by explicit index arithmetic."""
    if 0 in size:
        return np.empty(size, dtype=flat.dtype)
    idx = np.indices(size).reshape(len(size), -1) if size else np.zeros((0, 1), dtype=np.int64)
    lin = offset + (np.asarray(stride, dtype=np.int64)[:, None] * idx).sum(axis=0)
    return flat[lin].reshape(size)


def sample(dtype, n: int, rng: np.random.Generator) -> np.ndarray:
    if dtype == np.bool_:
        return rng.integers(0, 2, n).astype(bool)
    if np.issubdtype(dtype, np.complexfloating):
        return (rng.standard_normal(n) + 1j * rng.standard_normal(n)).astype(dtype)
    if np.issubdtype(dtype, np.floating):
        return rng.standard_normal(n).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, n, dtype=dtype, endpoint=True)


def save_one(path, storage_class: str, flat: np.ndarray, offset, size, stride, **kw) -> None:
    sd = OrderedDict(t=tensor(storage_ref(storage_class, "0", flat.size), offset, size, stride, **kw))
    write_archive(path, dumps(sd), {"0": le_bytes(flat)})


@pytest.mark.parametrize("storage_class", sorted(STORAGE_CLASSES))
def test_every_storage_class_reads_exactly(tmp_path, storage_class):
    dtype = STORAGE_CLASSES[storage_class]
    flat = sample(dtype, 40, np.random.default_rng(1))
    path = tmp_path / "t.pt"
    # A transposed view at an offset: the general case.
    save_one(path, storage_class, flat, 3, (4, 5), (1, 6))
    out = minimod.load(path)["t"]
    expected = gather(flat, 3, (4, 5), (1, 6))
    assert out.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(out, expected)
    assert out.flags.c_contiguous and out.flags.writeable


def test_native_storage_for_the_dtypes_minimod_holds(tmp_path):
    flat = np.arange(6, dtype=np.float32)
    save_one(tmp_path / "t.pt", "FloatStorage", flat, 0, (2, 3), (3, 1))
    assert is_native(minimod.load(tmp_path / "t.pt")["t"])


def test_half_and_bfloat16_are_upcast_exactly(tmp_path):
    rng = np.random.default_rng(2)
    half = rng.standard_normal(12).astype(np.float16)
    # bfloat16 values: float32s whose low 16 bits are zero, stored as their top 16 bits.
    bf = (rng.standard_normal(12).astype(np.float32).view(np.uint32) & 0xFFFF0000).view(np.float32)
    bf_bits = (bf.view(np.uint32) >> 16).astype(np.uint16)
    sd = OrderedDict(
        h=tensor(storage_ref("HalfStorage", "0", 12), 2, (2, 5), (5, 1)),
        b=tensor(storage_ref("BFloat16Storage", "1", 12), 1, (5, 2), (1, 5)),
    )
    write_archive(tmp_path / "t.pt", dumps(sd), {"0": le_bytes(half), "1": le_bytes(bf_bits)})
    out = minimod.load(tmp_path / "t.pt")
    assert out["h"].dtype == np.float32 and out["b"].dtype == np.float32
    np.testing.assert_array_equal(out["h"], gather(half, 2, (2, 5), (5, 1)).astype(np.float32))
    np.testing.assert_array_equal(out["b"], gather(bf, 1, (5, 2), (1, 5)))


def test_zero_dim_empty_and_expanded_tensors(tmp_path):
    flat = np.array([7.5, -1.0, 2.0], dtype=np.float32)
    ref = storage_ref("FloatStorage", "0", 3)
    sd = OrderedDict(
        scalar=tensor(ref, 2, (), ()),
        empty=tensor(ref, 0, (0, 4), (4, 1)),
        expanded=tensor(ref, 1, (3, 2), (0, 1)),  # stride 0, as Tensor.expand writes
        # A size-1 axis never moves: torch may write any stride for it.
        size_one=tensor(ref, 0, (1, 3), (10**30, 1)),
    )
    write_archive(tmp_path / "t.pt", dumps(sd), {"0": le_bytes(flat)})
    out = minimod.load(tmp_path / "t.pt")
    assert out["scalar"].shape == () and out["scalar"] == np.float32(2.0)
    assert out["empty"].shape == (0, 4)
    np.testing.assert_array_equal(out["expanded"], gather(flat, 1, (3, 2), (0, 1)))
    np.testing.assert_array_equal(out["size_one"], flat[None, :])


def test_shared_storage_is_read_once_and_results_do_not_alias(tmp_path, monkeypatch):
    import zipfile

    reads: list[str] = []
    real_read = zipfile.ZipFile.read

    def counting_read(self, name, pwd=None):
        reads.append(name)
        return real_read(self, name, pwd)

    monkeypatch.setattr(zipfile.ZipFile, "read", counting_read)
    flat = np.arange(12, dtype=np.float64)
    ref = storage_ref("DoubleStorage", "0", 12)
    sd = OrderedDict(a=tensor(ref, 0, (3, 4), (4, 1)), b=tensor(ref, 4, (4,), (1,)))
    write_archive(tmp_path / "t.pt", dumps(sd), {"0": le_bytes(flat)})
    out = minimod.load(tmp_path / "t.pt")
    assert reads.count("archive/data/0") == 1
    np.testing.assert_array_equal(out["b"], flat[4:8])
    out["a"][1, 0] = -1.0  # element 4 of the storage: b must not see it
    assert out["b"][0] == 4.0


def test_v3_untyped_storage_with_dtype_global(tmp_path):
    values = np.array([1, 60000, 7, 65535], dtype=np.uint16)
    untyped = ("storage", Global("torch.storage", "UntypedStorage"), "0", "cpu", values.nbytes)
    from ckpt_writer import PersId

    t = tensor(PersId(untyped), 1, (3,), (1,), rebuild="_rebuild_tensor_v3",
               extra=(Global("torch", "uint16"),))  # fmt: skip
    write_archive(tmp_path / "t.pt", dumps(OrderedDict(u=t)), {"0": le_bytes(values)})
    out = minimod.load(tmp_path / "t.pt")["u"]
    assert out.dtype == np.uint16
    np.testing.assert_array_equal(out, values[1:])


def test_parameter_record_and_conj_neg_metadata(tmp_path):
    flat = np.array([1 + 2j, 3 - 4j], dtype=np.complex64)
    ref = storage_ref("ComplexFloatStorage", "0", 2)
    hooks = Call(Global("collections", "OrderedDict"))
    sd = OrderedDict(
        p=Call(Global("torch._utils", "_rebuild_parameter"),
               tensor(ref, 0, (2,), (1,), requires_grad=True), True, hooks),  # fmt: skip
        c=tensor(ref, 0, (2,), (1,), extra=({"conj": True},)),
        n=tensor(ref, 0, (2,), (1,), extra=({"neg": True},)),
    )
    write_archive(tmp_path / "t.pt", dumps(sd), {"0": le_bytes(flat)})
    out = minimod.load(tmp_path / "t.pt")
    assert type(out["p"]) is np.ndarray
    np.testing.assert_array_equal(out["p"], flat)
    np.testing.assert_array_equal(out["c"], np.conj(flat))
    np.testing.assert_array_equal(out["n"], -flat)


def test_metadata_build_is_kept(tmp_path):
    sd = OrderedDict(w=tensor(storage_ref("FloatStorage", "0", 1), 0, (1,), (1,)))
    sd._metadata = OrderedDict([("", {"version": 1}), ("bn", {"version": 2})])
    write_archive(tmp_path / "t.pt", dumps(sd), {"0": le_bytes(np.ones(1, np.float32))})
    out = minimod.load(tmp_path / "t.pt")
    assert out._metadata == {"": {"version": 1}, "bn": {"version": 2}}


def test_archive_top_folder_need_not_match_file_name_and_byteorder_may_be_absent(tmp_path):
    sd = OrderedDict(w=tensor(storage_ref("FloatStorage", "0", 2), 0, (2,), (1,)))
    flat = np.array([1.5, 2.5], np.float32)
    write_archive(tmp_path / "renamed.pth", dumps(sd), {"0": le_bytes(flat)}, top="old_name",
                  byteorder=None)  # fmt: skip
    np.testing.assert_array_equal(minimod.load(tmp_path / "renamed.pth")["w"], flat)


@given(
    shape=st.lists(st.integers(0, 4), min_size=0, max_size=4),
    data=st.data(),
)
def test_any_in_bounds_geometry_matches_index_arithmetic(tmp_path_factory, shape, data):
    size = tuple(shape)
    stride = tuple(data.draw(st.integers(0, 6)) for _ in size)
    offset = data.draw(st.integers(0, 5))
    span = offset + sum((n - 1) * s for n, s in zip(size, stride)) if 0 not in size else offset
    numel = span + 1 + data.draw(st.integers(0, 3))
    flat = np.arange(numel, dtype=np.int32) * 3 - 7
    path = tmp_path_factory.mktemp("geom") / "t.pt"
    save_one(path, "IntStorage", flat, offset, size, stride)
    np.testing.assert_array_equal(minimod.load(path)["t"], gather(flat, offset, size, stride))


@given(
    shape=st.lists(st.integers(1, 4), min_size=1, max_size=3),
    data=st.data(),
)
def test_any_out_of_bounds_geometry_is_refused(tmp_path_factory, shape, data):
    size = tuple(shape)
    stride = tuple(data.draw(st.integers(0, 5)) for _ in size)
    offset = data.draw(st.integers(0, 5))
    last = offset + sum((n - 1) * s for n, s in zip(size, stride))
    numel = data.draw(st.integers(0, last))  # one element short, or more
    path = tmp_path_factory.mktemp("oob") / "t.pt"
    save_one(path, "FloatStorage", np.zeros(numel, np.float32), offset, size, stride)
    with pytest.raises(CheckpointError, match="out of bounds|past the end"):
        minimod.load(path)


def test_writer_self_check_plain_data_round_trips_through_pickle():
    value = {"a": (1, -2, 2**70, 3.5, "x\u00e9", [1, 2], [], None, True, False), "b": {}}
    assert pickle.loads(dumps(value)) == value
    od = OrderedDict(k=1)
    od._metadata = {"": {"version": 1}}
    back = pickle.loads(dumps(od))
    assert back == od and back._metadata == od._metadata
    assert pickle.loads(dumps(Build(OrderedDict(), {"x": 1}))).x == 1


def test_legacy_rebuild_and_non_cpu_location(tmp_path):
    flat = np.arange(6, dtype=np.float32)
    gpu_storage = storage_ref("FloatStorage", "0", 6, location="cuda:0")  # loads onto the CPU
    sd = OrderedDict(
        old=Call(Global("torch._utils", "_rebuild_tensor"), gpu_storage, 1, (2, 2), (1, 2)),
        new=tensor(gpu_storage, 0, (6,), (1,)),
    )
    write_archive(tmp_path / "t.pt", dumps(sd), {"0": le_bytes(flat)})
    out = minimod.load(tmp_path / "t.pt")
    np.testing.assert_array_equal(out["old"], gather(flat, 1, (2, 2), (1, 2)))
    np.testing.assert_array_equal(out["new"], flat)
