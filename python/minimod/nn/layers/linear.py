"""Linear and Identity (torch.nn.Linear, torch.nn.Identity)."""

from __future__ import annotations

import math
from typing import Any


from minimod import _core
from minimod.nn import functional as F
from minimod.nn import init
from minimod.nn.layers._factory import check_factory_kwargs, empty_parameter
from minimod.nn.module import Module

__all__ = ["Identity", "Linear"]

# F.linear behind a native front: see _core._linear_or_fallback (csrc/bindings/linalg.cpp).
_linear = _core._linear_or_fallback(F.linear)


class Identity(Module):
    """Returns its input (the same object); ignores any constructor arguments."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, input: Any) -> Any:
        return input


class Linear(Module):
    """y = x W^T + b over the last dimension: ``Linear(in_features, out_features, bias=True)``.

    ``weight`` is (out_features, in_features), ``bias`` (out_features,) or None; both start as
    U(-1/sqrt(in_features), 1/sqrt(in_features)), as in torch.
    """

    __constants__ = ["in_features", "out_features"]

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        check_factory_kwargs("Linear", device, dtype)
        self.in_features = in_features
        self.out_features = out_features
        self.weight = empty_parameter((out_features, in_features))
        if bias:
            self.bias = empty_parameter((out_features,))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # kaiming_uniform_ with a = sqrt(5) is U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (torch #57109).
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input: Any) -> Any:
        # Native when input, weight and bias are float32 arrays whose shapes fit; everything
        # else (other dtypes, array-likes, bad shapes) goes to F.linear, which converts or
        # raises torch's errors. The parameters are read at every call, so writes are seen.
        return _linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"
