"""PyTorch ``.pt`` / ``.pth`` checkpoints, read without torch.

``torch.save(obj, path)`` (zip format, the default since torch 1.6) writes a zip archive with one
top folder (named after the file when it was saved, so it may not match the current name)::

    <top>/data.pkl        the pickled object; tensors refer to storages by persistent id
    <top>/data/<key>      the raw little-endian bytes of each storage, stored uncompressed
    <top>/byteorder       "little" or "big" (absent in files from older torch: little)
    <top>/version, <top>/.format_version, <top>/.storage_alignment, <top>/.data/...

A TorchScript archive (``torch.jit.save``) has the same shape plus ``constants.pkl`` and
``code/``; it is refused, since its weights belong to a compiled program. So is the legacy format
(``_use_new_zipfile_serialization=False``), a bare pickle stream that starts with torch's magic
number. Unpickling goes through :mod:`minimod.serialization.torch_pickle`, which runs nothing.
"""

from __future__ import annotations

import os
import zipfile
import zlib
from typing import Any

from minimod.serialization.errors import CheckpointError
from minimod.serialization.torch_pickle import unpickle_state

_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")  # a local file header; an empty archive
# The legacy format opens with a pickled int, torch's magic number; with the default protocol 2
# the stream starts b"\x80\x02\x8a\x0a" + these ten bytes, with others a little later.
_LEGACY_MAGIC = (0x1950A86A20F9469CFC6C).to_bytes(10, "little")
# data.pkl holds about 100 bytes per tensor; this bound only stops a decompression bomb.
_MAX_PICKLE_BYTES = 1 << 30


def is_zip(head: bytes) -> bool:
    return head.startswith(_ZIP_MAGICS)


def is_legacy_torch(head: bytes) -> bool:
    return head.startswith(b"\x80") and _LEGACY_MAGIC in head[:32]


def legacy_format_message(path: str | os.PathLike) -> str:
    return (
        f"{os.fspath(path)!r} is a PyTorch checkpoint in the legacy (pre-1.6) format, "
        "which minimod does not read. Re-save it once with torch in the default zip format: "
        "torch.save(torch.load(path, weights_only=True), path)"
    )


def read_torch_checkpoint(path: str | os.PathLike) -> Any:
    """The object a ``torch.save`` zip archive holds, with tensors as numpy arrays."""
    name = os.fspath(path)
    try:
        with zipfile.ZipFile(name) as zf:
            return _read_archive(zf, name)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
        msg = f"{name!r} is not a readable PyTorch checkpoint: corrupted zip archive ({exc})"
        raise CheckpointError(msg) from exc
    except RuntimeError as exc:  # zipfile's "File ... is encrypted, password required"
        msg = f"{name!r} is not a readable PyTorch checkpoint: {exc}"
        raise CheckpointError(msg) from exc


def _read_archive(zf: zipfile.ZipFile, name: str) -> Any:
    names = zf.namelist()
    tops = {n.partition("/")[0] for n in names}
    if len(tops) != 1 or any("/" not in n for n in names):
        msg = (
            f"{name!r} is a zip archive but not a torch.save checkpoint: expected every entry "
            f"under one top folder, found {sorted(tops)[:5]}"
        )
        raise CheckpointError(msg)
    top = tops.pop()
    if f"{top}/constants.pkl" in names or any(n.startswith(f"{top}/code/") for n in names):
        msg = (
            f"{name!r} is a TorchScript archive (torch.jit.save), not a state_dict checkpoint. "
            "Export its weights once with torch: "
            "torch.save(torch.jit.load(path).state_dict(), 'weights.pt')"
        )
        raise CheckpointError(msg)
    if f"{top}/data.pkl" not in names:
        msg = f"{name!r} is a zip archive without {top}/data.pkl: not a torch.save checkpoint"
        raise CheckpointError(msg)
    _check_byteorder(zf, f"{top}/byteorder", names, name)

    def read_storage(key: str, nbytes: int) -> bytes:
        record = f"{top}/data/{key}"
        try:
            info = zf.getinfo(record)
        except KeyError:
            msg = f"{name!r}: data.pkl refers to storage {key!r}, but {record} is missing"
            raise CheckpointError(msg) from None
        # torch.save stores tensor bytes uncompressed (64-byte aligned, for mmap), so a record
        # can be no larger than the file; a compressed one could inflate without bound.
        if info.compress_type != zipfile.ZIP_STORED:
            msg = (
                f"{name!r}: storage record {record} is compressed, which torch.save never does; "
                "re-save the checkpoint with torch.save"
            )
            raise CheckpointError(msg)
        if info.file_size != nbytes:
            msg = (
                f"{name!r}: storage record {record} holds {info.file_size} bytes, but data.pkl "
                f"expects {nbytes} (truncated or corrupted file)"
            )
            raise CheckpointError(msg)
        return zf.read(record)  # verifies the CRC

    if zf.getinfo(f"{top}/data.pkl").file_size > _MAX_PICKLE_BYTES:
        msg = f"{name!r}: {top}/data.pkl is larger than {_MAX_PICKLE_BYTES} bytes"
        raise CheckpointError(msg)
    try:
        return unpickle_state(zf.read(f"{top}/data.pkl"), read_storage)
    except CheckpointError as exc:
        if str(exc).startswith(repr(name)):
            raise
        raise type(exc)(f"{name!r}: {exc}") from exc.__cause__


def _check_byteorder(zf: zipfile.ZipFile, record: str, names: list[str], name: str) -> None:
    if record not in names:
        return  # older torch wrote no marker; those files are little-endian in practice
    order = zf.read(record) if zf.getinfo(record).file_size <= 16 else b"(too long)"
    if order == b"little":
        return
    if order == b"big":
        msg = (
            f"{name!r} was saved on a big-endian machine (byteorder 'big'); minimod reads "
            "little-endian checkpoints only. Re-save it with torch on a little-endian machine."
        )
    else:
        msg = f"{name!r} has an unknown byteorder record {order[:20]!r}"
    raise CheckpointError(msg)
