"""The process-wide random generator behind default initialisation and Dropout.

``minimod.manual_seed(seed)`` makes initialisation and dropout masks reproducible. The streams are
numpy's PCG64, not torch's: the distributions match torch, the individual numbers do not.
"""

from __future__ import annotations

import numpy as np

_generator = np.random.default_rng()


def default_generator() -> np.random.Generator:
    return _generator


def manual_seed(seed: int) -> np.random.Generator:
    """Seeds minimod's generator; returns it (torch returns its Generator too)."""
    global _generator
    _generator = np.random.default_rng(int(seed))
    return _generator
