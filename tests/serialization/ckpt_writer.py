"""A torch-free writer of torch.save-style archives, for tests that must run without torch.

It assembles the pickle opcodes by hand (protocol 2, as torch.save writes), so a test can state
exactly which globals, persistent ids and tensor geometries a checkpoint holds, including ones
torch would never write (out-of-bounds strides, foreign globals, BUILDs on tensors).
"""

from __future__ import annotations

import struct
import zipfile
from collections import OrderedDict
from typing import Any

import numpy as np


class Global:
    """A GLOBAL opcode: ``module.name`` as the unpickler's find_class sees it."""

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name


class Call:
    """``func(*args)`` through REDUCE."""

    def __init__(self, func: Any, *args: Any) -> None:
        self.func, self.args = func, args


class PersId:
    """A BINPERSID opcode: ``persistent_load(value)``."""

    def __init__(self, value: Any) -> None:
        self.value = value


class Build:
    """A BUILD opcode: set ``state`` on ``obj``."""

    def __init__(self, obj: Any, state: Any) -> None:
        self.obj, self.state = obj, state


def _enc(x: Any) -> bytes:
    if x is None:
        return b"N"
    if x is True:
        return b"\x88"
    if x is False:
        return b"\x89"
    if isinstance(x, int):
        n = (x.bit_length() + 8) // 8  # two's complement, little-endian, with a sign bit
        return b"\x8a" + bytes([n]) + x.to_bytes(n, "little", signed=True)
    if isinstance(x, float):
        return b"G" + struct.pack(">d", x)
    if isinstance(x, str):
        data = x.encode()
        return b"X" + struct.pack("<I", len(data)) + data
    if isinstance(x, tuple):
        return b"(" + b"".join(_enc(v) for v in x) + b"t"
    if isinstance(x, list):
        return b"]" + (b"(" + b"".join(_enc(v) for v in x) + b"e" if x else b"")
    if isinstance(x, OrderedDict):
        out = _enc(Call(Global("collections", "OrderedDict")))
        if x:
            out += b"(" + b"".join(_enc(k) + _enc(v) for k, v in x.items()) + b"u"
        meta = getattr(x, "_metadata", None)
        if meta is not None:  # torch's state_dict carries it as a BUILD of the instance dict
            out += _enc({"_metadata": meta}) + b"b"
        return out
    if isinstance(x, dict):
        return b"}" + (b"(" + b"".join(_enc(k) + _enc(v) for k, v in x.items()) + b"u" if x else b"")
    if isinstance(x, Global):
        return b"c" + x.module.encode() + b"\n" + x.name.encode() + b"\n"
    if isinstance(x, Call):
        return _enc(x.func) + _enc(tuple(x.args)) + b"R"
    if isinstance(x, PersId):
        return _enc(x.value) + b"Q"
    if isinstance(x, Build):
        return _enc(x.obj) + _enc(x.state) + b"b"
    raise TypeError(f"ckpt_writer cannot encode {type(x).__name__}")


def dumps(obj: Any) -> bytes:
    return b"\x80\x02" + _enc(obj) + b"."


def storage_ref(storage_class: str, key: str, numel: int, location: str = "cpu") -> PersId:
    return PersId(("storage", Global("torch", storage_class), key, location, numel))


def tensor(
    storage: PersId,
    offset: int,
    size: tuple,
    stride: tuple,
    *,
    requires_grad: bool = False,
    rebuild: str = "_rebuild_tensor_v2",
    extra: tuple = (),
) -> Call:
    hooks = Call(Global("collections", "OrderedDict"))
    return Call(
        Global("torch._utils", rebuild), storage, offset, size, stride, requires_grad, hooks, *extra
    )


def write_archive(
    path: Any,
    data_pkl: bytes,
    storages: dict[str, bytes],
    *,
    top: str = "archive",
    byteorder: bytes | None = b"little",
    extra: dict[str, bytes] | None = None,
) -> None:
    """A zip laid out as torch.save lays it out (records stored, not compressed)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr(f"{top}/data.pkl", data_pkl)
        zf.writestr(f"{top}/.format_version", b"1")
        if byteorder is not None:
            zf.writestr(f"{top}/byteorder", byteorder)
        for key, data in storages.items():
            zf.writestr(f"{top}/data/{key}", data)
        zf.writestr(f"{top}/version", b"3\n")
        for name, data in (extra or {}).items():
            zf.writestr(f"{top}/{name}", data)


def rewrite_zip(
    src: Any, dst: Any, replace: dict[str, bytes] | None = None, drop: tuple = ()
) -> None:
    """Copies archive ``src`` to ``dst``, replacing or dropping records by their full name."""
    replace = dict(replace or {})
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            if info.filename in drop:
                continue
            data = replace.pop(info.filename, None)
            zout.writestr(info.filename, zin.read(info.filename) if data is None else data)
        for name, data in replace.items():
            zout.writestr(name, data)


def le_bytes(arr: np.ndarray) -> bytes:
    """The bytes torch would store for ``arr``: little-endian, C order."""
    return np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
