"""Weights in and out: ``load`` a state_dict from PyTorch or safetensors files, ``save`` one.

``load(path, key=None)`` tells the format from the file's first bytes, not its name:

- a ``torch.save`` zip archive (``.pt`` / ``.pth``), read without importing torch by a restricted
  unpickler that runs no code from the file (:mod:`.torch_checkpoint`, :mod:`.torch_pickle`);
- a ``.safetensors`` file, read through the ``safetensors`` package (:mod:`.safetensors_io`).

It returns an ``OrderedDict`` name -> numpy array (C-contiguous copies, in native storage where
minimod storage holds the dtype), carrying the checkpoint's ``_metadata`` when it has one.
float16 and bfloat16 tensors come back as float32. A nested checkpoint such as
``{"state_dict": ..., "epoch": 3}`` needs ``key="state_dict"``; without it the error lists the
keys that hold a state_dict.

Every file it cannot read raises ``CheckpointError`` (a ``ValueError``); a pickle that reaches for
any global beyond the tensor state_dict ones raises ``UnsafeCheckpointError`` (also a
``pickle.UnpicklingError``) before anything runs. A missing file raises ``FileNotFoundError``.
``load`` writes nothing.

``save(state_dict, path, metadata=None)`` writes a safetensors file (atomically: a failed save
leaves no file behind and the old one intact). Values must be arrays (numpy, Parameters, or
anything with ``__array__`` / ``__dlpack__``); anything else is a ``TypeError``.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Mapping

from minimod.serialization.errors import CheckpointError, UnsafeCheckpointError
from minimod.serialization.safetensors_io import is_safetensors, read_safetensors, write_safetensors
from minimod.serialization.state_dict import select_state_dict
from minimod.serialization.torch_checkpoint import (
    is_legacy_torch,
    is_zip,
    legacy_format_message,
    read_torch_checkpoint,
)

__all__ = ["CheckpointError", "UnsafeCheckpointError", "load", "save"]

_PICKLE_PROTOCOL_OPCODE = b"\x80"


def load(path: str | os.PathLike, key: str | None = None) -> OrderedDict:
    """Reads a state_dict from a ``torch.save`` checkpoint or a safetensors file.

    ``key`` selects the state_dict inside a nested torch checkpoint (``key="state_dict"``).
    """
    if key is not None and not isinstance(key, str):
        msg = f"load: key must be a str or None, got {type(key).__name__}"
        raise TypeError(msg)
    name = os.fspath(path)
    with open(name, "rb") as fh:
        head = fh.read(32)
    if is_zip(head):
        return select_state_dict(read_torch_checkpoint(name), key, repr(name))
    if is_safetensors(head):
        if key is not None:
            msg = (
                f"{name!r} is a safetensors file, which holds one flat state_dict: "
                f"key={key!r} applies to nested torch checkpoints only"
            )
            raise CheckpointError(msg)
        return read_safetensors(name)
    if is_legacy_torch(head):
        raise CheckpointError(legacy_format_message(name))
    if head.startswith(_PICKLE_PROTOCOL_OPCODE):
        msg = (
            f"{name!r} is a bare pickle, not a torch.save zip archive; minimod does not unpickle "
            "arbitrary files. Save the weights with torch.save(model.state_dict(), path) or "
            "as safetensors."
        )
        raise CheckpointError(msg)
    msg = (
        f"{name!r} is neither a PyTorch checkpoint (torch.save zip archive) nor a safetensors "
        f"file (it starts with {head[:8]!r})"
    )
    raise CheckpointError(msg)


def save(
    state_dict: Mapping, path: str | os.PathLike, metadata: Mapping[str, str] | None = None
) -> None:
    """Writes ``state_dict`` (name -> array) to ``path`` as safetensors.

    The header metadata holds ``minimod_version``, the dtypes in state_dict order, the
    state_dict's ``_metadata`` if present, and the caller's ``metadata`` (str -> str).
    """
    write_safetensors(state_dict, path, metadata)
