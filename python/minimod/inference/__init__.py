"""minimod.inference: ``optimize_for_inference`` and the read-only, fused model it returns."""

from __future__ import annotations

from minimod.inference.folded import FoldedConv, FoldedLinear
from minimod.inference.optimize import optimize_for_inference
from minimod.inference.read_only import InferenceBuffer, InferenceParameter, ReadOnlyModelError

__all__ = [
    "FoldedConv",
    "FoldedLinear",
    "InferenceBuffer",
    "InferenceParameter",
    "ReadOnlyModelError",
    "optimize_for_inference",
]
