"""What counts as a state_dict, and finding one inside a nested training checkpoint.

A state_dict is a mapping of str names to arrays. Training scripts often save more around it,
``{"state_dict": ..., "epoch": 3}`` or ``{"model": ..., "optimizer": ...}``; ``load`` does not
guess which entry holds the weights (a checkpoint may hold several, e.g. "model" and "ema"), it
names the candidates and asks for ``key``. A state_dict's ``_metadata`` attribute (per-module
``version`` records that ``load_state_dict`` hands to ``_load_from_state_dict``) is kept.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import numpy as np

from minimod.serialization.errors import CheckpointError


def is_state_dict(obj: Any) -> bool:
    """True for a mapping whose keys are all str and whose values are all arrays."""
    return isinstance(obj, Mapping) and all(
        isinstance(k, str) and isinstance(v, np.ndarray) for k, v in obj.items()
    )


def as_state_dict(obj: Mapping) -> OrderedDict:
    """An OrderedDict copy of a state_dict mapping, carrying its ``_metadata`` if it has one."""
    out: OrderedDict = OrderedDict(obj)
    metadata = getattr(obj, "_metadata", None)
    if metadata is not None:
        if not isinstance(metadata, Mapping):
            msg = f"the state_dict's _metadata is a {type(metadata).__name__}, not a mapping"
            raise CheckpointError(msg)
        out._metadata = metadata  # type: ignore[attr-defined]
    return out


def _describe(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"array {value.dtype}{list(value.shape)}"
    return type(value).__name__


def select_state_dict(obj: Any, key: str | None, source: str) -> OrderedDict:
    """The state_dict in a loaded checkpoint: ``obj`` itself, or ``obj[key]``."""
    if not isinstance(obj, Mapping):
        msg = f"{source} holds a {type(obj).__name__}, not a state_dict (a mapping name -> tensor)"
        raise CheckpointError(msg)
    if key is not None:
        if key not in obj:
            msg = f"{source} has no key {key!r}; its top-level keys are {_key_list(obj)}"
            raise CheckpointError(msg)
        obj, source = obj[key], f"{source}[{key!r}]"
        if is_state_dict(obj):
            return as_state_dict(obj)
        raise CheckpointError(_not_a_state_dict(obj, source))
    if is_state_dict(obj):
        return as_state_dict(obj)
    # An empty mapping (an optimizer's "state": {}) is no evidence of weights.
    holders = [k for k, v in obj.items() if is_state_dict(v) and len(v) > 0]
    if holders:
        msg = (
            f"{source} is a checkpoint dict, not a state_dict: its top-level keys are "
            f"{_key_list(obj)}, and the key(s) holding a state_dict are {holders}. "
            f"Pass key={holders[0]!r} to choose one (convert: --key {holders[0]})."
        )
        raise CheckpointError(msg)
    raise CheckpointError(_not_a_state_dict(obj, source))


def _not_a_state_dict(obj: Any, source: str) -> str:
    if not isinstance(obj, Mapping):
        return f"{source} holds a {type(obj).__name__}, not a state_dict"
    bad = [(k, v) for k, v in obj.items() if not (isinstance(k, str) and isinstance(v, np.ndarray))]
    shown = ", ".join(
        f"{k!r}: {_describe(v)}" if isinstance(k, str) else f"the non-str key {k!r}"
        for k, v in bad[:5]
    )
    more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
    return (
        f"{source} is not a state_dict (a mapping of str name -> tensor) and none of its "
        f"values is one: it holds {shown}{more}"
    )


def _key_list(obj: Mapping) -> list:
    keys = list(obj.keys())
    return keys if len(keys) <= 20 else [*keys[:20], "..."]
