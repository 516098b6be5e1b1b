"""The restricted unpickler for a torch checkpoint's ``data.pkl``: tensors come back, nothing runs.

``torch.save`` pickles a state_dict as calls to a handful of torch functions, e.g.
``_rebuild_tensor_v2(<persistent storage record>, offset, size, stride, requires_grad, hooks)``.
We never import torch: each global a tensor state_dict needs maps to a local stand-in below, and
``find_class`` refuses every other global before anything is looked up or called, so a malicious
pickle (``os.system`` in a ``__reduce__``) fails with an ``UnsafeCheckpointError`` naming the global.

What torch 2.13 writes (checked with ``pickletools.dis`` on saved models):
- ``collections.OrderedDict`` for the state_dict and the (empty) backward-hook dicts; the
  state_dict's ``_metadata`` arrives as a BUILD of ``{"_metadata": OrderedDict(...)}`` on it;
- ``torch._utils._rebuild_tensor_v2`` with a typed storage class (``torch.FloatStorage`` ...) in
  the persistent id, and a trailing ``{"conj": True}`` / ``{"neg": True}`` for such views;
- ``torch._utils._rebuild_tensor_v3`` with ``torch.storage.UntypedStorage`` and a dtype global
  (``torch.uint16``) for the dtypes that have no typed storage;
- ``torch._utils._rebuild_parameter`` when a Parameter itself was saved (``keep_vars=True``).
The legacy ``_rebuild_tensor`` (torch < 1.x pickles inside zip archives) is accepted as well.
Loading a Parameter returns a plain array: a state_dict value is data, not a module attribute.

A tensor is rebuilt only after its offset, size and stride are checked against the storage's
length (no negative sizes or strides, no index past the end), and it is then copied into a new
C-contiguous array, in native storage where minimod storage holds the dtype. float16 and bfloat16
are upcast to float32 (exactly: every value of either is a float32 value), since minimod computes
in float32 and numpy has no bfloat16.
"""

from __future__ import annotations

import io
import pickle
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np

from minimod._arrays import native_copy
from minimod.serialization.errors import CheckpointError, UnsafeCheckpointError

# The dtypes minimod's native storage holds (csrc/core/dtype.h); others come back as plain arrays.
_NATIVE_DTYPES = frozenset(
    ["bool", "int8", "uint8", "int16", "int32", "int64", "float16", "float32", "float64"]
)


class TorchDtype:
    """A torch element type: how its bytes are laid out in the archive, and what load returns."""

    __slots__ = ("loaded", "name", "stored")

    def __init__(self, name: str, stored: str, loaded: str) -> None:
        self.name = name  # torch's name, for messages
        self.stored = np.dtype(stored)  # the little-endian layout torch writes
        self.loaded = np.dtype(loaded)  # native dtype of the returned array

    def __setstate__(self, state: Any) -> None:
        _refuse_build(f"the dtype torch.{self.name}")

    def __repr__(self) -> str:
        return f"torch.{self.name}"


_DTYPES = {
    d.name: d
    for d in (
        TorchDtype("float64", "<f8", "float64"),
        TorchDtype("float32", "<f4", "float32"),
        TorchDtype("float16", "<f2", "float32"),
        TorchDtype("bfloat16", "<u2", "float32"),  # raw bits; upcast in _to_loaded
        TorchDtype("int64", "<i8", "int64"),
        TorchDtype("int32", "<i4", "int32"),
        TorchDtype("int16", "<i2", "int16"),
        TorchDtype("int8", "i1", "int8"),
        TorchDtype("uint8", "u1", "uint8"),
        TorchDtype("bool", "?", "bool"),
        TorchDtype("uint16", "<u2", "uint16"),
        TorchDtype("uint32", "<u4", "uint32"),
        TorchDtype("uint64", "<u8", "uint64"),
        TorchDtype("complex64", "<c8", "complex64"),
        TorchDtype("complex128", "<c16", "complex128"),
    )
}

# torch's legacy typed-storage classes, as named in persistent ids, and their element types.
_STORAGE_CLASSES = {
    "DoubleStorage": "float64",
    "FloatStorage": "float32",
    "HalfStorage": "float16",
    "BFloat16Storage": "bfloat16",
    "LongStorage": "int64",
    "IntStorage": "int32",
    "ShortStorage": "int16",
    "CharStorage": "int8",
    "ByteStorage": "uint8",
    "BoolStorage": "bool",
    "ComplexFloatStorage": "complex64",
    "ComplexDoubleStorage": "complex128",
}


class StorageClass:
    """Stand-in for ``torch.FloatStorage`` & co. (``dtype`` None: ``torch.UntypedStorage``)."""

    __slots__ = ("dtype", "name")

    def __init__(self, name: str, dtype: TorchDtype | None) -> None:
        self.name = name
        self.dtype = dtype

    def __setstate__(self, state: Any) -> None:
        _refuse_build(f"the storage class torch.{self.name}")

    def __repr__(self) -> str:
        return f"torch.{self.name}"


class Storage:
    """The bytes of one ``<top>/data/<key>`` record, as a persistent id resolved them."""

    __slots__ = ("data", "dtype", "key")

    def __init__(self, key: str, dtype: TorchDtype | None, data: bytes) -> None:
        self.key = key
        self.dtype = dtype  # None for an untyped (byte) storage
        self.data = data

    def __setstate__(self, state: Any) -> None:
        _refuse_build(f"the storage record data/{self.key}")


def _refuse_build(what: str) -> None:
    msg = f"data.pkl tries to set the state of {what} (a pickle BUILD): refused"
    raise UnsafeCheckpointError(msg)


# ---------------------------------------------------------------------------------------------
# Tensor reconstruction: the stand-ins for torch._utils._rebuild_*
# ---------------------------------------------------------------------------------------------


def _int_tuple(value: Any, what: str) -> tuple[int, ...]:
    if not isinstance(value, (tuple, list)) or not all(
        type(v) is int for v in value  # bool is an int subclass; torch never writes one here
    ):
        msg = f"tensor {what} must be a tuple of ints, got {value!r}"
        raise CheckpointError(msg)
    return tuple(value)


def _checked_view(
    storage: Storage, dtype: TorchDtype, offset: Any, size: Any, stride: Any
) -> np.ndarray:
    """A read-only strided view of ``storage``, after proving every element lies inside it."""
    size = _int_tuple(size, "size")
    stride = _int_tuple(stride, "stride")
    if type(offset) is not int:
        msg = f"tensor storage offset must be an int, got {offset!r}"
        raise CheckpointError(msg)
    where = f"storage data/{storage.key}"
    if len(size) != len(stride):
        msg = f"tensor size {size} and stride {stride} differ in length ({where})"
        raise CheckpointError(msg)
    if len(size) > 32:  # numpy's limit is 64; no module weight comes close
        msg = f"tensor has {len(size)} dimensions ({where})"
        raise CheckpointError(msg)
    if offset < 0 or any(n < 0 for n in size) or any(s < 0 for s in stride):
        msg = (
            f"tensor with offset {offset}, size {size}, stride {stride} has a negative entry "
            f"({where}): torch never writes one; the file is corrupted or crafted"
        )
        raise CheckpointError(msg)
    if len(storage.data) % dtype.stored.itemsize:
        msg = f"{where} holds {len(storage.data)} bytes, not a whole number of {dtype.name}"
        raise CheckpointError(msg)
    numel = len(storage.data) // dtype.stored.itemsize
    if 0 in size:
        if offset > numel:
            msg = f"tensor offset {offset} lies past the end of {where} ({numel} elements)"
            raise CheckpointError(msg)
        return np.empty(size, dtype=dtype.stored)
    # Python ints do not overflow, so this bound is exact; a size-1 axis never moves, so its
    # stride (which may be anything) is dropped before numpy sees it.
    last = offset + sum((n - 1) * s for n, s in zip(size, stride))
    if last >= numel:
        msg = (
            f"tensor with offset {offset}, size {size}, stride {stride} reaches element {last} "
            f"of {where}, which holds {numel}: out of bounds (truncated or crafted file)"
        )
        raise CheckpointError(msg)
    flat = np.frombuffer(storage.data, dtype=dtype.stored)
    itemsize = dtype.stored.itemsize
    byte_strides = tuple(s * itemsize if n > 1 else 0 for n, s in zip(size, stride))
    return np.lib.stride_tricks.as_strided(
        flat[offset:], shape=size, strides=byte_strides, writeable=False
    )


def _to_loaded(view: np.ndarray, dtype: TorchDtype) -> np.ndarray:
    """A new C-contiguous copy of ``view`` in the dtype ``load`` returns."""
    if dtype.name == "bfloat16":
        # bfloat16 is the top half of a float32: widening the bits is exact.
        bits = view.astype(np.uint32)
        bits <<= 16
        view = bits.view(np.float32)
    if dtype.loaded.name in _NATIVE_DTYPES:
        return native_copy(view, dtype.loaded)
    return np.array(view, dtype=dtype.loaded, order="C")


def _apply_tensor_metadata(arr: np.ndarray, metadata: Any) -> np.ndarray:
    # torch saves a conjugate or negative *view* as its un-flipped data plus a flag.
    if not metadata:
        return arr
    if not isinstance(metadata, dict) or not set(metadata) <= {"conj", "neg"}:
        msg = f"unsupported tensor metadata {metadata!r}"
        raise CheckpointError(msg)
    if metadata.get("conj"):
        np.conjugate(arr, out=arr)
    if metadata.get("neg"):
        np.negative(arr, out=arr)
    return arr


def _check_flags(requires_grad: Any, backward_hooks: Any) -> None:
    if type(requires_grad) is not bool:
        msg = f"tensor requires_grad must be a bool, got {requires_grad!r}"
        raise CheckpointError(msg)
    if backward_hooks is not None and (not isinstance(backward_hooks, dict) or backward_hooks):
        msg = "tensor carries backward hooks; save the plain state_dict instead"
        raise CheckpointError(msg)


def _typed_storage(storage: Any) -> tuple[Storage, TorchDtype]:
    if not isinstance(storage, Storage) or storage.dtype is None:
        msg = f"expected a typed storage record, got {type(storage).__name__}"
        raise CheckpointError(msg)
    return storage, storage.dtype


def _rebuild_tensor(storage: Any, storage_offset: Any, size: Any, stride: Any) -> np.ndarray:
    storage, dtype = _typed_storage(storage)
    return _to_loaded(_checked_view(storage, dtype, storage_offset, size, stride), dtype)


def _rebuild_tensor_v2(
    storage: Any,
    storage_offset: Any,
    size: Any,
    stride: Any,
    requires_grad: Any = False,
    backward_hooks: Any = None,
    metadata: Any = None,
) -> np.ndarray:
    _check_flags(requires_grad, backward_hooks)
    arr = _rebuild_tensor(storage, storage_offset, size, stride)
    return _apply_tensor_metadata(arr, metadata)


def _rebuild_tensor_v3(
    storage: Any,
    storage_offset: Any,
    size: Any,
    stride: Any,
    requires_grad: Any,
    backward_hooks: Any,
    dtype: Any,
    metadata: Any = None,
) -> np.ndarray:
    _check_flags(requires_grad, backward_hooks)
    if not isinstance(storage, Storage) or storage.dtype is not None:
        msg = "_rebuild_tensor_v3 expects an untyped storage record"
        raise CheckpointError(msg)
    if not isinstance(dtype, TorchDtype):
        msg = f"_rebuild_tensor_v3 expects a torch dtype, got {dtype!r}"
        raise CheckpointError(msg)
    arr = _to_loaded(_checked_view(storage, dtype, storage_offset, size, stride), dtype)
    return _apply_tensor_metadata(arr, metadata)


def _rebuild_parameter(data: Any, requires_grad: Any, backward_hooks: Any) -> np.ndarray:
    _check_flags(requires_grad, backward_hooks)
    if not isinstance(data, np.ndarray):
        msg = f"_rebuild_parameter expects a tensor, got {type(data).__name__}"
        raise CheckpointError(msg)
    return data


# ---------------------------------------------------------------------------------------------
# The allow-list and the unpickler
# ---------------------------------------------------------------------------------------------

_ALLOWED: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): OrderedDict,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_tensor_v3"): _rebuild_tensor_v3,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch", "UntypedStorage"): StorageClass("UntypedStorage", None),
    ("torch.storage", "UntypedStorage"): StorageClass("UntypedStorage", None),
}
_ALLOWED.update(
    {("torch", cls): StorageClass(cls, _DTYPES[dt]) for cls, dt in _STORAGE_CLASSES.items()}
)
_ALLOWED.update({("torch", name): dt for name, dt in _DTYPES.items()})

ReadStorage = Callable[[str, int], bytes]


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickles a tensor state_dict; any global outside ``_ALLOWED`` is refused unexecuted.

    ``read_storage(key, nbytes)`` returns the bytes of the archive's ``data/<key>`` record; each
    key is read once, so tensors that share a storage share one read.
    """

    def __init__(self, file: io.BufferedIOBase, read_storage: ReadStorage) -> None:
        super().__init__(file, fix_imports=False)
        self._read_storage = read_storage
        self._storages: dict[str, Storage] = {}

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except (KeyError, TypeError):
            pass
        msg = (
            f"refusing to load the global '{module}.{name}' from data.pkl: minimod reads tensor "
            "state_dicts only and never runs code from a checkpoint (nothing was executed). "
            "If the checkpoint also holds other objects, re-save just the weights with torch: "
            "torch.save(model.state_dict(), path)"
        )
        raise UnsafeCheckpointError(msg)

    def persistent_load(self, pid: Any) -> Storage:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            msg = f"unsupported persistent id in data.pkl: {pid!r:.200}"
            raise UnsafeCheckpointError(msg)
        _, storage_class, key, location, numel = pid
        if not isinstance(storage_class, StorageClass):
            msg = f"persistent id names {storage_class!r:.100}, not a torch storage class"
            raise UnsafeCheckpointError(msg)
        if not isinstance(key, str) or not key or "/" in key or key.startswith("."):
            msg = f"bad storage key {key!r:.100} in data.pkl"
            raise CheckpointError(msg)
        if not isinstance(location, str) or type(numel) is not int or numel < 0:
            msg = f"bad storage record for key {key!r}: location {location!r:.50}, numel {numel!r}"
            raise CheckpointError(msg)
        dtype = storage_class.dtype
        cached = self._storages.get(key)
        if cached is not None:
            if cached.dtype is not dtype:
                msg = f"storage data/{key} is used as both {cached.dtype} and {dtype}"
                raise CheckpointError(msg)
            return cached
        nbytes = numel * (dtype.stored.itemsize if dtype is not None else 1)
        storage = Storage(key, dtype, self._read_storage(key, nbytes))
        self._storages[key] = storage
        return storage


def unpickle_state(data: bytes, read_storage: ReadStorage) -> Any:
    """The object ``data.pkl`` holds, with every tensor as a numpy array."""
    unpickler = RestrictedUnpickler(io.BytesIO(data), read_storage)
    try:
        return unpickler.load()
    except CheckpointError:
        raise
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        TypeError,
        KeyError,
        IndexError,
        AttributeError,
        RecursionError,
        OverflowError,
        UnicodeDecodeError,
    ) as exc:
        msg = f"data.pkl is corrupted: {type(exc).__name__}: {exc}"
        raise CheckpointError(msg) from exc
