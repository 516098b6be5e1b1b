"""Flatten / Unflatten: torch.nn's reshaping layers over minimod.nn.functional.flatten/unflatten.

Both are views of the input when its strides allow (a copy otherwise, as ``Tensor.reshape``
decides), for any dtype. Constructor checks, attributes and ``extra_repr`` follow torch 2.13;
dimension errors surface at forward with torch's messages.
"""

from __future__ import annotations

from typing import Any

from minimod.nn.functional import _flatten as F
from minimod.nn.module import Module

__all__ = ["Flatten", "Unflatten"]


class Flatten(Module):
    """Merge dimensions ``start_dim..end_dim`` (inclusive) into one: ``Flatten(start_dim=1, end_dim=-1)``."""

    __constants__ = ["start_dim", "end_dim"]
    start_dim: int
    end_dim: int

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input: Any) -> Any:  # noqa: A002
        return F.flatten(input, self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split dimension ``dim`` into ``unflattened_size`` (a tuple or list of ints, one may be -1)."""

    __constants__ = ["dim", "unflattened_size"]
    dim: int
    unflattened_size: tuple[int, ...]

    def __init__(self, dim: int, unflattened_size: Any) -> None:
        super().__init__()
        _require_tuple_of_ints(unflattened_size)
        self.dim = dim
        self.unflattened_size = unflattened_size

    def forward(self, input: Any) -> Any:  # noqa: A002
        return F.unflatten(input, self.dim, self.unflattened_size)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"


def _require_tuple_of_ints(sizes: Any) -> None:
    # torch checks the container and every element at construction, with these messages.
    if not isinstance(sizes, (tuple, list)):
        msg = f"unflattened_size must be a tuple of ints, but found type {type(sizes).__name__}"
        raise TypeError(msg)
    for idx, elem in enumerate(sizes):
        if not isinstance(elem, int):
            msg = f"unflattened_size must be tuple of ints, but found element of type {type(elem).__name__} at pos {idx}"
            raise TypeError(msg)
