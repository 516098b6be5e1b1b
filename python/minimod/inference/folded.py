"""The fused layers ``optimize_for_inference`` puts in place of Conv/Linear -> BatchNorm -> ReLU runs.

A run is folded into one layer: the BatchNorm's eval-mode affine goes into the weight and bias
(``minimod.nn.utils.fuse_conv_bn_eval`` math) and the ReLU becomes the GEMM's store epilogue, so
the run is one native call with no intermediate arrays. The layer keeps the original modules (not
registered: they are not in ``parameters()`` or ``state_dict()``) and runs them for the inputs the
fold does not cover exactly, so every input gives the original run's result or error:

- an unbatched input (for a conv: (C, *S); BatchNorm would read another axis as channels);
- a Linear -> BatchNorm1d input that is not 2-D (BatchNorm1d normalises dim 1, Linear the last);
- anything not a float32 ndarray, or a call the native kernel rejects.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minimod import _core
from minimod.nn import functional as F
from minimod.nn.functional._conv import same_padding
from minimod.nn.module import Module
from minimod.nn.utils.fusion import fuse_conv_bn_eval, fuse_linear_bn_eval

__all__ = ["FoldedConv", "FoldedLinear"]

_F32 = np.dtype(np.float32)


def _refuse_training() -> RuntimeError:
    return RuntimeError(
        "this layer comes from minimod.optimize_for_inference (BatchNorm folded into its weights) "
        "and runs in eval mode only; train the original model instead"
    )


class _FoldedRun(Module):
    """Shared parts: the original modules, their names for repr, the training refusal."""

    def _keep_originals(self, modules: tuple) -> None:
        # A plain attribute (a tuple is not routed to _modules): the originals stay out of
        # parameters(), state_dict() and named_modules().
        self._originals = modules

    def originals(self) -> tuple:
        """The modules this layer replaces (Conv/Linear, then BatchNorm and/or ReLU)."""
        return self._originals

    def _run_originals(self, input: Any) -> Any:
        for module in self._originals:
            input = module(input)
        return input

    def extra_repr(self) -> str:
        return " -> ".join(repr(m).replace("\n", " ") for m in self._originals)


class FoldedConv(_FoldedRun):
    """conv -> [BatchNorm] -> [ReLU] as one convolution with folded weights and a ReLU epilogue."""

    def __init__(self, conv: Module, bn: Module | None, relu: Module | None) -> None:
        super().__init__()
        folded = fuse_conv_bn_eval(conv, bn) if bn is not None else conv
        self.weight = folded.weight
        self.bias = folded.bias
        self.relu = relu is not None
        nd = len(conv.kernel_size)
        self._batched_ndim = nd + 2
        self.stride = tuple(conv.stride)
        self.dilation = tuple(conv.dilation)
        self.groups = conv.groups
        self.padding_mode = conv.padding_mode
        if conv.padding_mode != "zeros":
            # Non-zero modes pad with F.pad first, then convolve without padding (as Conv does).
            self._mode_padding = conv._reversed_padding_repeated_twice
            self._pad_before = self._pad_after = (0,) * nd
        elif conv.padding == "same":
            before, after = same_padding(tuple(conv.kernel_size), self.dilation)
            self._pad_before, self._pad_after = tuple(before), tuple(after)
        elif conv.padding == "valid":
            self._pad_before = self._pad_after = (0,) * nd
        else:
            self._pad_before = self._pad_after = tuple(conv.padding)
        self._keep_originals(tuple(m for m in (conv, bn, relu) if m is not None))
        self.train(False)

    def forward(self, input: Any) -> Any:
        if self.training:
            raise _refuse_training()
        if type(input) is np.ndarray and input.ndim == self._batched_ndim and input.dtype == _F32:
            x = input
            if self.padding_mode != "zeros":
                x = F.pad(x, self._mode_padding, mode=self.padding_mode)
            try:
                return _core.conv_nd(x, self.weight, self.bias, self.stride, self._pad_before,
                                     self._pad_after, self.dilation, self.groups, self.relu)
            except (ValueError, RuntimeError, TypeError):
                pass  # the original modules raise torch's message for this input
        return self._run_originals(input)


class FoldedLinear(_FoldedRun):
    """linear -> [BatchNorm1d] -> [ReLU] as one GEMM with folded weights and a ReLU epilogue."""

    def __init__(self, linear: Module, bn: Module | None, relu: Module | None) -> None:
        super().__init__()
        folded = fuse_linear_bn_eval(linear, bn) if bn is not None else linear
        self.weight = folded.weight
        self.bias = folded.bias
        self.relu = relu is not None
        self.in_features = linear.in_features
        self.out_features = linear.out_features
        # With a BatchNorm folded in, only (N, features) input is exact (see the module doc).
        self._exact_ndim = 2 if bn is not None else None
        self._keep_originals(tuple(m for m in (linear, bn, relu) if m is not None))
        self.train(False)

    def forward(self, input: Any) -> Any:
        if self.training:
            raise _refuse_training()
        if (type(input) is np.ndarray and input.dtype == _F32 and input.ndim >= 1
                and (self._exact_ndim is None or input.ndim == self._exact_ndim)):
            try:
                return _core.linear(input, self.weight, self.bias, self.relu)
            except (ValueError, RuntimeError, TypeError):
                pass
        return self._run_originals(input)
