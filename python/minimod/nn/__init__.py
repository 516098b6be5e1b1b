"""minimod.nn: the torch.nn API (Module, Parameter, containers, layers) over native kernels."""

from __future__ import annotations

from minimod.nn import functional, init, utils
from minimod.nn.containers import *  # noqa: F403
from minimod.nn.layers.activation import *  # noqa: F403
from minimod.nn.layers.batchnorm import *  # noqa: F403
from minimod.nn.layers.conv import *  # noqa: F403
from minimod.nn.layers.dropout import *  # noqa: F403
from minimod.nn.layers.flatten import *  # noqa: F403
from minimod.nn.layers.linear import *  # noqa: F403
from minimod.nn.layers.pooling import *  # noqa: F403
from minimod.nn.module import *  # noqa: F403
from minimod.nn.parameter import Buffer, Parameter
from minimod.nn import _fusion  # noqa: E402,F401  (enables Sequential's fused conv runs)
