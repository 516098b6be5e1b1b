"""Call-time fusion of Conv -> BatchNorm (eval) [-> ReLU] runs and Linear -> ReLU pairs inside
``Sequential``.

``Sequential.forward`` runs its modules through ``_core._sequential_forward``, which computes such
a run as ONE convolution whose output store applies ``y = acc * s[c] + t[c]`` (then ReLU), with
``s = gamma / sqrt(running_var + eps)`` and ``t = beta + (conv_bias - running_mean) * s`` computed
at every call from the live parameters and buffers. Nothing is cached, so a write to any of them
through any route is seen by the next call; this is not weight folding (that is
``minimod.optimize_for_inference``). It saves the BatchNorm and ReLU memory passes, their output
arrays and two module calls. A 2-d run with its ReLU also takes a following plain ``MaxPool2d``
(no padding, dilation 1, no ceil_mode or indices): the conv output then goes to a per-thread
scratch buffer and only the pooled array is allocated (W3: ~4% less time than pooling apart).

A ``Linear -> ReLU`` pair is likewise one GEMM with the ReLU in its store (in either mode: neither
forward depends on it), when Linear's own forward would run natively: at batch 1 an MLP's ReLU
module calls cost more than its ReLUs.

A run is fused only when the fusion cannot be observed: each module is exactly the library class
(no subclass; the class's ``forward`` and the methods it calls as they were when this module was
imported; no instance ``forward``), in eval mode, with no hooks of its own and no global module
hooks; the conv has ``padding_mode='zeros'`` and int-tuple arguments; the BatchNorm has running
statistics; every array is C-contiguous float32. Anything else, including every invalid call,
runs the modules one by one, so errors and hooks behave exactly as without fusion.
"""

from __future__ import annotations

from minimod import _core
from minimod.nn import module as _module
from minimod.nn.layers.activation import ReLU
from minimod.nn.layers.batchnorm import BatchNorm1d, BatchNorm2d, BatchNorm3d
from minimod.nn.layers.conv import Conv1d, Conv2d, Conv3d
from minimod.nn.layers.linear import Linear
from minimod.nn.layers.pooling import MaxPool2d

_core._install_conv_bn_fusion(
    (Conv1d, Conv2d, Conv3d),
    (BatchNorm1d, BatchNorm2d, BatchNorm3d),
    ReLU,
    MaxPool2d,
    Linear,
    _module.Module.__dict__["__call__"],
    vars(_module),
)
