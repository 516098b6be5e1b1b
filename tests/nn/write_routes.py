"""The public routes that write a module's parameter or buffer, for the never-stale tests of the
fused paths (a fused call must see a write made through any of them at the very next call)."""

from __future__ import annotations

from typing import Any

import numpy as np

import minimod.nn as nn


def set_attr(mod: Any, name: str, values: np.ndarray) -> None:
    setattr(mod, name, nn.Parameter(values) if name in mod._parameters else values)


def write_view(mod: Any, name: str, values: np.ndarray) -> None:
    np.asarray(getattr(mod, name))[...] = values


def load_state(mod: Any, name: str, values: np.ndarray) -> None:
    sd = mod.state_dict()
    sd[name] = values
    mod.load_state_dict(sd)


def in_place(mod: Any, name: str, values: np.ndarray) -> None:
    arr = getattr(mod, name)
    arr *= 0
    arr += values


ROUTES = [set_attr, write_view, load_state, in_place]
