"""``.safetensors`` files, through the ``safetensors`` package's numpy API.

Reading goes through ``safe_open(..., framework="np")``. numpy has no bfloat16, so a BF16 tensor
cannot come out of that API; for those we take the raw bytes from ``safetensors.deserialize`` and
widen them to float32 ourselves (exact). F16 is upcast to float32 too, as in the torch reader:
minimod computes in float32. A dtype numpy cannot hold (the F8 and F4 formats) is refused by name,
never re-interpreted.

Writing goes through ``safetensors.numpy.save_file``, which (0.8) passes each array's data
pointer and ``nbytes`` on without checking the layout, so every array is first made C-contiguous
here. safetensors sorts tensors in the file, so the header metadata records the state_dict order,
which ``read_safetensors`` restores::

    minimod_version              the minimod that wrote the file
    minimod_dtypes               JSON object name -> numpy dtype, in state_dict order
    minimod_state_dict_metadata  JSON of the state_dict's ``_metadata`` (module versions), if any
"""

from __future__ import annotations

import json
import os
import secrets
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import numpy as np

from minimod._arrays import as_array, is_tensor_like, native_copy
from minimod._version import __version__
from minimod.serialization.errors import CheckpointError

_SAFETENSORS_DTYPES = frozenset(
    [
        "float64", "float32", "float16", "int64", "int32", "int16", "int8",
        "uint64", "uint32", "uint16", "uint8", "bool", "complex64",
    ]
)  # fmt: skip
_NATIVE_DTYPES = frozenset(
    ["bool", "int8", "uint8", "int16", "int32", "int64", "float16", "float32", "float64"]
)
_RESERVED = ("minimod_version", "minimod_dtypes", "minimod_state_dict_metadata")
# A safetensors file starts with the little-endian u64 length of its JSON header, then "{".
_MAX_HEADER = 100_000_000  # the package's own limit


def is_safetensors(head: bytes) -> bool:
    if len(head) < 9 or head[8:9] != b"{":
        return False
    return 2 <= int.from_bytes(head[:8], "little") <= _MAX_HEADER


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------


def read_safetensors(path: str | os.PathLike) -> OrderedDict:
    """The file's tensors as native arrays, in the writer's order when minimod wrote it."""
    from safetensors import SafetensorError, safe_open  # noqa: PLC0415  (keeps import light)

    name = os.fspath(path)
    try:
        with safe_open(name, framework="np") as f:
            meta = f.metadata() or {}
            keys = list(f.keys())
            out: OrderedDict = OrderedDict()
            raw: dict[str, Any] | None = None
            for key in _ordered_keys(keys, meta, name):
                dtype = f.get_slice(key).get_dtype()
                if dtype == "BF16":
                    if raw is None:
                        raw = _raw_tensors(name)
                    out[key] = _bf16_to_f32(raw[key], key, name)
                elif dtype in ("F16", "F32", "F64", "I64", "I32", "I16", "I8", "U8", "BOOL",
                               "U16", "U32", "U64", "C64"):  # fmt: skip
                    out[key] = _loaded(f.get_tensor(key))
                else:
                    msg = (
                        f"{name!r}: tensor {key!r} has dtype {dtype}, which numpy cannot hold; "
                        "minimod reads F64/F32/F16/BF16 and the integer and bool dtypes"
                    )
                    raise CheckpointError(msg)
    except SafetensorError as exc:
        msg = f"{name!r} is not a readable safetensors file: {exc}"
        raise CheckpointError(msg) from exc
    state_metadata = _state_dict_metadata(meta, name)
    if state_metadata is not None:
        out._metadata = state_metadata  # type: ignore[attr-defined]
    return out


def _loaded(arr: np.ndarray) -> np.ndarray:
    dtype = np.dtype(np.float32) if arr.dtype == np.float16 else arr.dtype
    if dtype.name in _NATIVE_DTYPES:
        return native_copy(arr, dtype)
    return np.array(arr, dtype=dtype, order="C")


def _raw_tensors(name: str) -> dict[str, Any]:
    from safetensors import deserialize  # noqa: PLC0415

    with open(name, "rb") as fh:
        return dict(deserialize(fh.read()))


def _bf16_to_f32(entry: Mapping, key: str, name: str) -> np.ndarray:
    shape = [int(n) for n in entry["shape"]]
    data = entry["data"]
    if len(data) != 2 * int(np.prod(shape, dtype=np.int64)):
        msg = f"{name!r}: BF16 tensor {key!r} has {len(data)} bytes for shape {shape}"
        raise CheckpointError(msg)
    bits = np.frombuffer(data, dtype="<u2").astype(np.uint32)
    bits <<= 16  # bfloat16 is the top half of a float32
    return native_copy(bits.view(np.float32).reshape(shape))


def _ordered_keys(keys: list[str], meta: Mapping[str, str], name: str) -> list[str]:
    # safetensors lists keys sorted; minimod's own files carry the state_dict order.
    if "minimod_dtypes" not in meta:
        return keys
    try:
        order = list(json.loads(meta["minimod_dtypes"]))
    except (ValueError, TypeError) as exc:
        msg = f"{name!r}: malformed minimod_dtypes metadata ({exc})"
        raise CheckpointError(msg) from exc
    if sorted(order) != sorted(keys):
        msg = f"{name!r}: minimod_dtypes metadata does not list the file's tensors"
        raise CheckpointError(msg)
    return order


def _state_dict_metadata(meta: Mapping[str, str], name: str) -> OrderedDict | None:
    text = meta.get("minimod_state_dict_metadata")
    if text is None:
        return None
    try:
        value = json.loads(text, object_pairs_hook=OrderedDict)
    except ValueError as exc:
        msg = f"{name!r}: malformed minimod_state_dict_metadata ({exc})"
        raise CheckpointError(msg) from exc
    if not isinstance(value, Mapping) or not all(isinstance(v, Mapping) for v in value.values()):
        msg = f"{name!r}: minimod_state_dict_metadata is not a mapping of module records"
        raise CheckpointError(msg)
    # Plain dicts per module, as torch's state_dict() makes them.
    return OrderedDict((k, dict(v)) for k, v in value.items())


# ---------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------


def _contiguous_arrays(state_dict: Mapping) -> OrderedDict:
    if not isinstance(state_dict, Mapping):
        msg = f"save expects a state_dict (a mapping name -> array), got {type(state_dict).__name__}"
        if callable(getattr(state_dict, "state_dict", None)):
            msg += "; pass module.state_dict()"
        raise TypeError(msg)
    arrays: OrderedDict = OrderedDict()
    for key, value in state_dict.items():
        if not isinstance(key, str):
            msg = f"save: state_dict keys must be str, got {key!r} ({type(key).__name__})"
            raise TypeError(msg)
        if not is_tensor_like(value):
            msg = (
                f"save: the value for {key!r} is a {type(value).__name__}, not an array; "
                "a safetensors file holds arrays only"
            )
            raise TypeError(msg)
        arr = np.asarray(as_array(value))  # np.asarray drops the Parameter subclass
        if arr.dtype.name not in _SAFETENSORS_DTYPES:
            msg = (
                f"save: the value for {key!r} has dtype {arr.dtype}, which safetensors cannot "
                f"store from numpy (supported: {', '.join(sorted(_SAFETENSORS_DTYPES))})"
            )
            raise TypeError(msg)
        # Little-endian and C-contiguous: the package writes ``nbytes`` from the data pointer.
        # (np.asarray, not np.ascontiguousarray, which turns a 0-d array into shape (1,).)
        arrays[key] = np.asarray(arr, dtype=arr.dtype.newbyteorder("<"), order="C")
    return arrays


def _header_metadata(
    arrays: Mapping[str, np.ndarray], state_dict: Mapping, metadata: Mapping | None
) -> dict[str, str]:
    header: dict[str, str] = {}
    if metadata is not None:
        if not isinstance(metadata, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
        ):
            msg = "save: metadata must be a mapping of str -> str (safetensors stores text only)"
            raise TypeError(msg)
        clash = [k for k in metadata if k in _RESERVED]
        if clash:
            msg = f"save: metadata keys {clash} are reserved for minimod"
            raise ValueError(msg)
        header.update(metadata)
    header["minimod_version"] = __version__
    header["minimod_dtypes"] = json.dumps({k: v.dtype.name for k, v in arrays.items()})
    module_versions = getattr(state_dict, "_metadata", None)
    if module_versions is not None:
        try:
            header["minimod_state_dict_metadata"] = json.dumps(module_versions)
        except (TypeError, ValueError) as exc:
            msg = f"save: the state_dict's _metadata cannot be stored as JSON ({exc})"
            raise TypeError(msg) from exc
    return header


def write_safetensors(
    state_dict: Mapping, path: str | os.PathLike, metadata: Mapping | None = None
) -> None:
    """Writes ``state_dict`` to ``path``; the file appears whole or not at all."""
    from safetensors.numpy import save_file  # noqa: PLC0415

    arrays = _contiguous_arrays(state_dict)
    header = _header_metadata(arrays, state_dict, metadata)
    target = os.fspath(path)
    # A fresh name beside the target (same filesystem, so os.replace is atomic); the package
    # creates it with the usual permissions, which mkstemp's 0600 would not give.
    directory, base = os.path.split(target)
    tmp = os.path.join(directory, f".{base}.{secrets.token_hex(8)}.tmp")
    try:
        save_file(arrays, tmp, metadata=header)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
