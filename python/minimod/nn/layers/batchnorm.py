"""BatchNorm1d / 2d / 3d: torch.nn's batch normalisation layers over the native kernels.

Parameters, buffers, ``_version = 2`` and the old-checkpoint loading rule follow torch 2.13. One
deliberate difference: torch increments ``num_batches_tracked`` before it checks the input, so a
forward that raises still counts a batch. minimod checks everything first, so **a forward that
raises changes no buffer**; a forward that succeeds changes exactly what torch's would.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minimod import _core
from minimod._arrays import as_array, is_tensor_like
from minimod.nn.functional._norm import _batch_norm, _check_batch_norm
from minimod.nn.module import Module
from minimod.nn.parameter import Parameter

_batch_norm_eval_or_none = _core._batch_norm_eval_or_none

__all__ = ["BatchNorm1d", "BatchNorm2d", "BatchNorm3d"]


def _filled(n: int, value: float) -> np.ndarray:
    arr = _core.empty([n], "float32", False)
    arr.fill(value)
    return arr


def _check_factory(num_features: Any, device: Any, dtype: Any) -> None:
    if isinstance(num_features, bool) or not isinstance(num_features, (int, np.integer)):
        msg = f"empty(): argument 'size' (position 1) must be tuple of ints, not {type(num_features).__name__}"
        raise TypeError(msg)
    if num_features < 0:
        msg = f"Trying to create tensor with negative dimension {num_features}: [{num_features}]"
        raise RuntimeError(msg)
    if device is not None and not (str(device) == "cpu" or str(device).startswith("cpu:")):
        msg = f"minimod runs on the CPU only, but got device={device!r}"
        raise RuntimeError(msg)
    if dtype is not None and str(dtype).removeprefix("torch.") not in ("float32", "float"):
        try:
            ok = np.dtype(dtype) == np.float32
        except TypeError:
            ok = False
        if not ok:
            msg = f"minimod BatchNorm computes in float32, but got dtype={dtype}; pass dtype=None or float32"
            raise RuntimeError(msg)


class _NormBase(Module):
    """Parameters, buffers, reset, repr and checkpoint loading shared by the BatchNorm layers."""

    _version = 2
    __constants__ = ["track_running_stats", "momentum", "eps", "num_features", "affine"]
    num_features: int
    eps: float
    momentum: float | None
    affine: bool
    track_running_stats: bool

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        device: Any = None,
        dtype: Any = None,
        *,
        bias: bool = True,
    ) -> None:
        _check_factory(num_features, device, dtype)
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        n = int(num_features)
        if self.affine:
            self.weight = Parameter(_core.empty([n], "float32", False))
            if bias:
                self.bias = Parameter(_core.empty([n], "float32", False))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if self.track_running_stats:
            self.register_buffer("running_mean", _filled(n, 0.0))
            self.register_buffer("running_var", _filled(n, 1.0))
            counter = _core.empty([], "int64", True)  # a 0-d int64 counter, like torch's tensor(0)
            self.register_buffer("num_batches_tracked", counter)
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            as_array(self.running_mean)[...] = 0
            as_array(self.running_var)[...] = 1
            as_array(self.num_batches_tracked)[...] = 0

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.affine:
            np.asarray(self.weight)[...] = 1
            if self.bias is not None:
                np.asarray(self.bias)[...] = 0

    def _check_input_dim(self, input: Any) -> None:
        raise NotImplementedError

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
            f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}"
        )

    def _load_from_state_dict(
        self,
        state_dict: Any,
        prefix: str,
        local_metadata: dict,
        strict: bool,
        missing_keys: list[str],
        unexpected_keys: list[str],
        error_msgs: list[str],
    ) -> None:
        # Checkpoints older than version 2 have no num_batches_tracked: keep the current counter
        # rather than report it missing. A v2 checkpoint without it is reported as usual.
        version = local_metadata.get("version", None)
        if (version is None or version < 2) and self.track_running_stats:
            key = prefix + "num_batches_tracked"
            if key not in state_dict:
                counter = self.num_batches_tracked
                state_dict[key] = counter if counter is not None else np.array(0, dtype=np.int64)
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )


class _BatchNorm(_NormBase):
    def forward(self, input: Any) -> np.ndarray:
        if not self.training:
            # Eval with plain float32 arguments: one native call (csrc/bindings/conv_hotpath.cpp)
            # that computes exactly what the checked path below would; None for anything else.
            # It checks the input rank itself, against the ranks the library's _check_input_dim
            # accepts; any other check (a subclass's, a patched one) gets mask 0: the path below.
            ranks = _NATIVE_RANKS.get(type(self)._check_input_dim, 0)
            out = _batch_norm_eval_or_none(input, self.running_mean, self.running_var, self.weight,
                                           self.bias, self.eps, ranks)
            if out is not None:
                return out
        # Convert a foreign tensor once, here: the checks below then see a numpy array and do not
        # convert it again (a torch tensor through DLPack costs microseconds per conversion).
        if not isinstance(input, np.ndarray) and is_tensor_like(input):
            input = as_array(input)
        self._check_input_dim(input)
        training = self.training
        # Batch statistics in training, and in eval when there are no running buffers; running
        # buffers are passed when they are used (eval) or updated (training with tracking).
        bn_training = training or (self.running_mean is None and self.running_var is None)
        use_buffers = not training or self.track_running_stats
        running_mean = self.running_mean if use_buffers else None
        running_var = self.running_var if use_buffers else None
        x = _check_batch_norm(input, running_mean, running_var, self.weight, self.bias, bn_training, self.eps)

        # Everything is checked: from here on the call succeeds, so state may change.
        factor = 0.0 if self.momentum is None else self.momentum
        counter = self.num_batches_tracked
        if training and self.track_running_stats and counter is not None:
            counter = as_array(counter)
            counter += 1
            if self.momentum is None:  # cumulative moving average
                factor = 1.0 / float(counter)
        return _batch_norm(x, running_mean, running_var, self.weight, self.bias, bn_training, factor, self.eps)


def _ndim(input: Any) -> int:
    if not is_tensor_like(input):
        msg = f"'{type(input).__name__}' object has no attribute 'dim'"
        raise AttributeError(msg)
    return as_array(input).ndim


class BatchNorm1d(_BatchNorm):
    """Batch normalisation over (N, C) or (N, C, L) input, per channel C.

    ``BatchNorm1d(num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True,
    device=None, dtype=None, *, bias=True)``; ``momentum=None`` is a cumulative average.
    """

    def _check_input_dim(self, input: Any) -> None:
        ndim = _ndim(input)
        if ndim not in (2, 3):
            msg = f"expected 2D or 3D input (got {ndim}D input)"
            raise ValueError(msg)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation over (N, C, H, W) input, per channel C."""

    def _check_input_dim(self, input: Any) -> None:
        ndim = _ndim(input)
        if ndim != 4:
            msg = f"expected 4D input (got {ndim}D input)"
            raise ValueError(msg)


class BatchNorm3d(_BatchNorm):
    """Batch normalisation over (N, C, D, H, W) input, per channel C."""

    def _check_input_dim(self, input: Any) -> None:
        ndim = _ndim(input)
        if ndim != 5:
            msg = f"expected 5D input (got {ndim}D input)"
            raise ValueError(msg)


# The input ranks each library check accepts, as bit masks (bit r: rank r), keyed by the check.
_NATIVE_RANKS = {
    BatchNorm1d._check_input_dim: (1 << 2) | (1 << 3),
    BatchNorm2d._check_input_dim: 1 << 4,
    BatchNorm3d._check_input_dim: 1 << 5,
}
