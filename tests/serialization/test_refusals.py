"""What load refuses, and that refusing runs nothing and leaves nothing behind (no torch needed)."""

from __future__ import annotations

import os
import pickle
import zipfile
from collections import OrderedDict

import numpy as np
import pytest
from ckpt_writer import (
    Build,
    Call,
    Global,
    PersId,
    dumps,
    le_bytes,
    rewrite_zip,
    storage_ref,
    tensor,
    write_archive,
)

import minimod
from minimod.serialization import CheckpointError, UnsafeCheckpointError


def good_archive(path, top="archive"):
    sd = OrderedDict(w=tensor(storage_ref("FloatStorage", "0", 6), 0, (2, 3), (3, 1)))
    write_archive(path, dumps(sd), {"0": le_bytes(np.arange(6, dtype=np.float32))}, top=top)


def load_refused(path, exc=CheckpointError, match=None, **kw):
    """Asserts load(path) raises ``exc`` and wrote nothing into path's folder."""
    folder = os.path.dirname(path)
    before = sorted(os.listdir(folder))
    with pytest.raises(exc, match=match) as info:
        minimod.load(path, **kw)
    assert sorted(os.listdir(folder)) == before
    return info.value


# ---------------------------------------------------------------------------------------------
# Pickles that try to run code
# ---------------------------------------------------------------------------------------------


class _SystemCall:
    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


class _OpenForWrite:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_malicious_os_system_pickle_is_refused_without_running(tmp_path):
    marker = tmp_path / "pwned"
    # A real torch-style archive whose data.pkl was swapped for a payload, written by pickle
    # itself (protocol 2, as torch.save uses), next to a legitimate tensor.
    good_archive(tmp_path / "good.pt")
    payload = pickle.dumps(OrderedDict(evil=_SystemCall(f"touch {marker}")), protocol=2)
    rewrite_zip(tmp_path / "good.pt", tmp_path / "evil.pt", {"archive/data.pkl": payload})
    err = load_refused(str(tmp_path / "evil.pt"), UnsafeCheckpointError, match="system")
    assert not marker.exists()
    # Named the way pickle wrote it: os.system pickles as posix.system (nt.system on Windows).
    assert f"'{os.system.__module__}.system'" in str(err)
    assert isinstance(err, pickle.UnpicklingError) and isinstance(err, ValueError)


def test_malicious_file_write_is_refused_without_running(tmp_path):
    target = tmp_path / "written.txt"
    payload = pickle.dumps(_OpenForWrite(str(target)), protocol=2)
    write_archive(tmp_path / "evil.pt", payload, {})
    err = load_refused(str(tmp_path / "evil.pt"), UnsafeCheckpointError)
    assert f"'{open.__module__}.open'" in str(err)  # io.open, as pickle names builtins.open
    assert not target.exists()


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("os", "system"),
        ("builtins", "exec"),
        ("builtins", "eval"),
        ("builtins", "getattr"),
        ("subprocess", "Popen"),
        ("torch", "load"),
        ("torch.nn.modules.linear", "Linear"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("torch._utils", "_rebuild_parameter_with_state"),
        ("torch.serialization", "_get_layout"),
        ("collections", "defaultdict"),
    ],
)
def test_every_other_global_is_refused_by_name(tmp_path, module, name):
    # Called with harmless arguments: even so, nothing outside the allow-list is looked up.
    obj = OrderedDict(x=Call(Global(module, name), "echo hi"))
    write_archive(tmp_path / "g.pt", dumps(obj), {})
    err = load_refused(str(tmp_path / "g.pt"), UnsafeCheckpointError)
    assert f"'{module}.{name}'" in str(err)


def test_refusal_anywhere_in_a_nested_checkpoint_refuses_the_file(tmp_path):
    sd = OrderedDict(w=tensor(storage_ref("FloatStorage", "0", 1), 0, (1,), (1,)))
    obj = {"state_dict": sd, "args": Call(Global("argparse", "Namespace"))}
    write_archive(tmp_path / "n.pt", dumps(obj), {"0": le_bytes(np.ones(1, np.float32))})
    load_refused(str(tmp_path / "n.pt"), UnsafeCheckpointError, match="argparse.Namespace",
                 key="state_dict")  # fmt: skip


def test_allowed_stand_ins_cannot_be_abused(tmp_path):
    ref = storage_ref("FloatStorage", "0", 2)
    data = {"0": le_bytes(np.ones(2, np.float32))}
    cases = {
        # Calling a storage class or dtype stand-in as a function.
        "call_storage": Call(Global("torch", "FloatStorage"), "x"),
        "call_dtype": Call(Global("torch", "float32"), 1),
        # BUILD (setstate) on a storage record or a stand-in.
        "build_storage": Build(ref, {"data": "zz"}),
        "build_class": Build(Global("torch", "FloatStorage"), {"name": "x"}),
        # A persistent id that is not a storage record, or names a non-storage class.
        "persid_other": PersId(("module", Global("collections", "OrderedDict"), "0", "cpu", 2)),
        "persid_class": PersId(("storage", Global("collections", "OrderedDict"), "0", "cpu", 2)),
        "persid_key": PersId(("storage", Global("torch", "FloatStorage"), "../x", "cpu", 2)),
        # _rebuild_parameter fed something that is not a rebuilt tensor.
        "param_of_str": Call(Global("torch._utils", "_rebuild_parameter"), "x", True,
                             Call(Global("collections", "OrderedDict"))),  # fmt: skip
        "hooks": Call(Global("torch._utils", "_rebuild_tensor_v2"), ref, 0, (2,), (1,), False,
                      {"h": 1}),  # fmt: skip
        "bool_size": tensor(ref, 0, (True,), (1,)),
        "float_stride": tensor(ref, 0, (2,), (1.0,)),
        "meta_other": tensor(ref, 0, (2,), (1,), extra=({"sparse": True},)),
    }
    for label, obj in cases.items():
        write_archive(tmp_path / f"{label}.pt", dumps(OrderedDict(x=obj)), data)
        load_refused(str(tmp_path / f"{label}.pt"))


# ---------------------------------------------------------------------------------------------
# Geometry and storage records that do not fit
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("offset", "size", "stride", "match"),
    [
        (6, (1,), (1,), "out of bounds"),  # offset at the end
        (0, (2, 4), (3, 1), "out of bounds"),  # rows too long
        (0, (3, 3), (3, 1), "out of bounds"),  # one row too many
        (0, (2, 3), (1, 3), "out of bounds"),  # transposed stride too large
        (2**62, (1,), (1,), "out of bounds"),  # would overflow an int64 byte offset
        (0, (2, 2**62), (1, 2**62), "out of bounds"),
        (-1, (2,), (1,), "negative"),
        (0, (-2,), (1,), "negative"),
        (2, (2,), (-1,), "negative"),
        (0, (2, 3), (3,), "differ in length"),
        (7, (0, 3), (3, 1), "past the end"),
    ],
)
def test_out_of_bounds_or_malformed_geometry_is_refused(tmp_path, offset, size, stride, match):
    sd = OrderedDict(w=tensor(storage_ref("FloatStorage", "0", 6), offset, size, stride))
    write_archive(tmp_path / "t.pt", dumps(sd), {"0": le_bytes(np.arange(6, dtype=np.float32))})
    load_refused(str(tmp_path / "t.pt"), CheckpointError, match=match)


def test_truncated_storage_record_is_refused(tmp_path):
    good_archive(tmp_path / "good.pt")
    short = le_bytes(np.arange(5, dtype=np.float32))  # data.pkl says 6 elements
    rewrite_zip(tmp_path / "good.pt", tmp_path / "t.pt", {"archive/data/0": short})
    load_refused(str(tmp_path / "t.pt"), CheckpointError, match="holds 20 bytes.*expects 24")


def test_missing_storage_record_is_refused(tmp_path):
    good_archive(tmp_path / "good.pt")
    rewrite_zip(tmp_path / "good.pt", tmp_path / "t.pt", drop=("archive/data/0",))
    load_refused(str(tmp_path / "t.pt"), CheckpointError, match="archive/data/0 is missing")


def test_one_storage_used_as_two_dtypes_is_refused(tmp_path):
    sd = OrderedDict(
        a=tensor(storage_ref("FloatStorage", "0", 2), 0, (2,), (1,)),
        b=tensor(storage_ref("IntStorage", "0", 2), 0, (2,), (1,)),
    )
    write_archive(tmp_path / "t.pt", dumps(sd), {"0": bytes(8)})
    load_refused(str(tmp_path / "t.pt"), CheckpointError, match="used as both")


# ---------------------------------------------------------------------------------------------
# Files that are not (readable) torch zip checkpoints
# ---------------------------------------------------------------------------------------------


def test_corrupted_zip_is_refused(tmp_path):
    good_archive(tmp_path / "good.pt")
    data = (tmp_path / "good.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    load_refused(str(tmp_path / "cut.pt"), CheckpointError, match="corrupted zip")
    # A flipped byte inside a stored tensor record: the CRC catches it.
    with zipfile.ZipFile(tmp_path / "good.pt") as zf:
        info = zf.getinfo("archive/data/0")
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    flipped = bytearray(data)
    flipped[start + 5] ^= 0xFF
    (tmp_path / "crc.pt").write_bytes(bytes(flipped))
    load_refused(str(tmp_path / "crc.pt"), CheckpointError, match="CRC")


def test_torchscript_archive_is_refused(tmp_path):
    good_archive(tmp_path / "good.pt")
    rewrite_zip(tmp_path / "good.pt", tmp_path / "js.pt", {"archive/constants.pkl": dumps(())})
    load_refused(str(tmp_path / "js.pt"), CheckpointError, match=r"TorchScript.*torch\.jit\.load")


def test_legacy_format_is_refused_with_the_fix(tmp_path):
    magic = b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19."  # what torch's legacy writer opens with
    (tmp_path / "old.pt").write_bytes(magic + b"\x80\x02M\xe9\x03.")
    load_refused(str(tmp_path / "old.pt"), CheckpointError, match=r"legacy.*torch\.save")


@pytest.mark.parametrize(("order", "match"), [(b"big", "big-endian"), (b"middle", "unknown")])
def test_foreign_byteorder_is_refused(tmp_path, order, match):
    good_archive(tmp_path / "good.pt")
    rewrite_zip(tmp_path / "good.pt", tmp_path / "t.pt", {"archive/byteorder": order})
    load_refused(str(tmp_path / "t.pt"), CheckpointError, match=match)


def test_zip_that_is_not_a_torch_archive_is_refused(tmp_path):
    with zipfile.ZipFile(tmp_path / "two.pt", "w") as zf:
        zf.writestr("a/data.pkl", dumps(OrderedDict()))
        zf.writestr("b/x", b"")
    load_refused(str(tmp_path / "two.pt"), CheckpointError, match="one top folder")
    with zipfile.ZipFile(tmp_path / "nopkl.pt", "w") as zf:
        zf.writestr("a/version", b"3\n")
    load_refused(str(tmp_path / "nopkl.pt"), CheckpointError, match="without a/data.pkl")


def test_other_files_are_refused(tmp_path):
    (tmp_path / "plain.pkl").write_bytes(pickle.dumps({"w": 1}, protocol=4))
    load_refused(str(tmp_path / "plain.pkl"), CheckpointError, match="bare pickle")
    (tmp_path / "text.pt").write_bytes(b"hello, world\n")
    load_refused(str(tmp_path / "text.pt"), CheckpointError, match="neither")
    (tmp_path / "empty.pt").write_bytes(b"")
    load_refused(str(tmp_path / "empty.pt"), CheckpointError, match="neither")
    with pytest.raises(FileNotFoundError):
        minimod.load(tmp_path / "missing.pt")


def test_corrupted_pickle_stream_is_refused(tmp_path):
    good_archive(tmp_path / "good.pt")
    with zipfile.ZipFile(tmp_path / "good.pt") as zf:
        pkl = zf.read("archive/data.pkl")
    for i, bad in enumerate([pkl[: len(pkl) // 2], b"\x80\x02\xff.", b""]):
        rewrite_zip(tmp_path / "good.pt", tmp_path / f"p{i}.pt", {"archive/data.pkl": bad})
        load_refused(str(tmp_path / f"p{i}.pt"), CheckpointError)


def test_compressed_storage_record_is_refused(tmp_path):
    # torch.save stores tensor bytes uncompressed; a deflated record could inflate without bound.
    sd = OrderedDict(w=tensor(storage_ref("FloatStorage", "0", 1 << 16), 0, (1 << 16,), (1,)))
    with zipfile.ZipFile(tmp_path / "z.pt", "w") as zf:
        zf.writestr("archive/data.pkl", dumps(sd))
        zf.writestr("archive/data/0", bytes(4 << 16), compress_type=zipfile.ZIP_DEFLATED)
    load_refused(str(tmp_path / "z.pt"), CheckpointError, match="compressed")


def test_legacy_format_with_another_pickle_protocol_is_recognised(tmp_path):
    magic = pickle.dumps(0x1950A86A20F9469CFC6C, protocol=4) + pickle.dumps(1001, protocol=4)
    (tmp_path / "old4.pt").write_bytes(magic)
    load_refused(str(tmp_path / "old4.pt"), CheckpointError, match="legacy")
