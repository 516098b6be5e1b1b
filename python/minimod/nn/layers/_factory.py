"""Parameter factory shared by the layers that own weights (linalg: linear.py, conv.py).

torch creates parameters with ``torch.empty(shape, device=..., dtype=...)``; minimod's parameters
are float32 arrays in native storage on the CPU, so ``device`` may only name the CPU and ``dtype``
only float32. Shape errors carry torch's message.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from minimod import _core
from minimod.nn.parameter import Parameter


def check_factory_kwargs(layer: str, device: Any, dtype: Any) -> None:
    """ValueError unless device is None/'cpu' and dtype is None/float32 (numpy or torch spelling)."""
    if device is not None and str(device) not in ("cpu", "cpu:0"):
        msg = f"{layer}: minimod runs on the CPU only, but got device={device!r}; pass device=None or 'cpu'"
        raise ValueError(msg)
    if dtype is None or str(dtype) == "torch.float32":
        return
    try:
        ok = np.dtype(dtype) == np.float32
    except TypeError:
        ok = False
    if not ok:
        msg = (f"{layer}: minimod parameters are float32 only, but got dtype={dtype!r}; pass "
               "dtype=None or np.float32 (convert inputs with x.astype(np.float32))")
        raise ValueError(msg)


def empty_parameter(shape: tuple[Any, ...]) -> Parameter:
    """A float32 Parameter of ``shape`` in native storage (torch.empty's checks and messages)."""
    for i, d in enumerate(shape):
        if not isinstance(d, numbers.Integral) or isinstance(d, bool):
            msg = (f"empty(): argument 'size' failed to unpack the object at pos {i} with error "
                   f"\"type must be tuple of ints,but got {type(d).__name__}\"")
            raise TypeError(msg)
    dims = [int(d) for d in shape]
    for d in dims:
        if d < 0:
            msg = f"Trying to create tensor with negative dimension {d}: {dims}"
            raise RuntimeError(msg)
    return Parameter(_core.empty(dims, "float32", True))
