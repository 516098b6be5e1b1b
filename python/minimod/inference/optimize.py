"""optimize_for_inference(model): a read-only, eval-mode copy with BatchNorm folded away."""

from __future__ import annotations

import copy
from collections import Counter
from typing import Any

from minimod.inference.folded import FoldedConv, FoldedLinear
from minimod.inference.read_only import (
    InferenceBuffer,
    InferenceParameter,
    freeze_array,
    read_only_error,
)
from minimod.nn import module as _module
from minimod.nn.containers import Sequential
from minimod.nn.layers.activation import ReLU
from minimod.nn.layers.batchnorm import BatchNorm1d, BatchNorm2d, BatchNorm3d
from minimod.nn.layers.conv import Conv1d, Conv2d, Conv3d
from minimod.nn.layers.linear import Identity, Linear
from minimod.nn.module import Module

__all__ = ["optimize_for_inference"]

# Exact types only: a subclass may override forward, and then the fold would change its meaning.
_CONV_BN = {Conv1d: BatchNorm1d, Conv2d: BatchNorm2d, Conv3d: BatchNorm3d}


def optimize_for_inference(model: Module) -> Module:
    """A new model for inference: eval mode, BatchNorm folded, every weight read-only.

    ``model`` is deep-copied and left untouched. In the copy:

    **Fused.** Inside every ``nn.Sequential`` (one whose ``forward`` is Sequential's), each run of
    consecutive children ``Conv1d/2d/3d -> BatchNorm1d/2d/3d (same dimensionality) [-> ReLU]``,
    ``Conv -> ReLU``, ``Linear -> BatchNorm1d [-> ReLU]`` or ``Linear -> ReLU`` becomes one layer
    (``minimod.inference.FoldedConv`` / ``FoldedLinear``) at the Conv/Linear's index, computing
    the run in one native call: BatchNorm folded into the weight and bias, ReLU applied as the
    GEMM's store epilogue. The run's other slots hold ``nn.Identity()``, so indices and the
    state_dict keys of every other module are unchanged. Outputs match the original to 1e-5.

    **Not fused** (left as they are, so they behave exactly as before):

    - a module with any forward/backward (pre-)hook, or that appears more than once in the tree
      (shared): its hooks still fire, its other uses still see it; nothing is fused at all while
      a global module hook (``register_module_forward_hook`` ...) is registered;
    - modules called from a custom ``forward`` (``self.bn(self.conv(x))``): minimod cannot see
      that the conv's output is used only by the BatchNorm, so ResNet-style blocks written that
      way keep their BatchNorm (wrap such runs in ``nn.Sequential`` to have them fused);
    - subclasses of the layers above, BatchNorm without running statistics, a BatchNorm whose
      size does not match, and activations other than ``nn.ReLU``.
    Inputs the fold does not cover exactly (unbatched input; a non-2-D input to Linear ->
    BatchNorm1d) run through the original modules, so they get the original result or error.

    **Read-only.** Every parameter and buffer of the returned model is read-only: a write through
    ``np.asarray(p)[...] = x`` raises numpy's ValueError ("assignment destination is read-only");
    ``p[...] = x``, ``p.data = x``, in-place ufuncs, ``nn.init.*`` and ``load_state_dict`` raise
    ``minimod.inference.ReadOnlyModelError`` (a RuntimeError and a ValueError) saying to change the
    original model and call ``optimize_for_inference`` on it again. Deep copies and pickles keep
    the parameters read-only (buffers of unfused modules come back writable there; nothing caches
    them, so a write to those is still seen). ``train()`` on a fused layer makes its forward raise.

    Weights are not pre-packed yet: the GEMM has no entry point taking pre-packed panels.
    """
    if not isinstance(model, Module):
        msg = f"optimize_for_inference expects a minimod.nn.Module, but got {type(model).__name__}"
        raise TypeError(msg)
    optimized = copy.deepcopy(model)
    optimized.eval()
    if not _global_hooks_registered():
        uses = Counter(id(m) for _, m in optimized.named_modules(remove_duplicate=False))
        for module in list(optimized.modules()):
            if isinstance(module, Sequential) and type(module).forward is Sequential.forward:
                _fuse_runs(module, uses)
    optimized.eval()  # again: the Identity placeholders are new modules
    _make_read_only(optimized)
    return optimized


# ---- finding and folding runs ----------------------------------------------------------------


def _global_hooks_registered() -> bool:
    return bool(
        _module._global_forward_hooks
        or _module._global_forward_pre_hooks
        or _module._global_backward_hooks
        or _module._global_backward_pre_hooks
    )


def _has_hooks(m: Module) -> bool:
    return bool(m._forward_hooks or m._forward_pre_hooks or m._backward_hooks
                or m._backward_pre_hooks)


def _foldable(m: Any, uses: Counter) -> bool:
    return m is not None and uses[id(m)] == 1 and not _has_hooks(m)


def _matching_bn(head: Module, bn: Any) -> bool:
    if type(head) is Linear:
        # fuse_linear_bn_eval also takes num_features == 1, but such a BatchNorm1d rejects a
        # wider Linear's output: folding it would turn that error into a result.
        if type(bn) is not BatchNorm1d or bn.num_features != head.out_features:
            return False
    elif type(bn) is not _CONV_BN[type(head)] or bn.num_features != head.out_channels:
        return False
    return bn.running_mean is not None and bn.running_var is not None


def _fuse_runs(seq: Sequential, uses: Counter) -> None:
    items = list(seq._modules.items())
    i = 0
    while i < len(items):
        name, head = items[i]
        if not (type(head) in _CONV_BN or type(head) is Linear) or not _foldable(head, uses):
            i += 1
            continue
        j = i + 1
        bn = relu = None
        if j < len(items) and _foldable(items[j][1], uses) and _matching_bn(head, items[j][1]):
            bn = items[j][1]
            j += 1
        if j < len(items) and type(items[j][1]) is ReLU and _foldable(items[j][1], uses):
            relu = items[j][1]
            j += 1
        if bn is not None or relu is not None:
            folded_type = FoldedLinear if type(head) is Linear else FoldedConv
            # Writing _modules directly keeps each slot's position (as Sequential.insert does).
            seq._modules[name] = folded_type(head, bn, relu)
            for k in range(i + 1, j):
                seq._modules[items[k][0]] = Identity()
        i = j


# ---- read-only -------------------------------------------------------------------------------


def _refuse_load(module: Module, *args: Any) -> None:
    """load_state_dict pre-hook of every module of an optimized model."""
    raise read_only_error("This module")


def _make_read_only(model: Module) -> None:
    frozen: dict[int, Any] = {}  # id(original array) -> its read-only replacement (ties stay tied)

    def freeze_module(m: Module) -> None:
        for name, p in m._parameters.items():
            if p is not None:
                if id(p) not in frozen:
                    frozen[id(p)] = InferenceParameter(p, p.requires_grad)
                m._parameters[name] = frozen[id(p)]
        for name, b in m._buffers.items():
            if b is not None and hasattr(b, "flags"):
                if id(b) not in frozen:
                    view = b.view(InferenceBuffer)
                    freeze_array(view)
                    frozen[id(b)] = view
                m._buffers[name] = frozen[id(b)]
        m.register_load_state_dict_pre_hook(_refuse_load)

    for m in model.modules():
        freeze_module(m)
        if isinstance(m, (FoldedConv, FoldedLinear)):
            for original in m.originals():
                for sub in original.modules():
                    freeze_module(sub)
