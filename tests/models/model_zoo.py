"""Whole models written once against an ``nn`` namespace (torch.nn or minimod.nn).

Both come from the benchmark's workload definitions (minimod.bench.workloads), so the models the
tests check are the models the benchmark times. ``small_cnn(nn)`` is workload W3 of WORKLOADS.md;
``resnet18(nn)`` is torchvision's ResNet-18
layout (BasicBlock x [2, 2, 2, 2], stem conv 7x7/2 + maxpool 3x3/2, 1x1 downsample branches,
``out += identity`` residual adds, 1000 classes), so its state_dict keys are torchvision's.
``randomise_batchnorm`` gives every BatchNorm of a torch model non-trivial affine parameters and
running statistics, so that eval mode computes something other than an identity.
"""

from __future__ import annotations

from typing import Any

from minimod.bench import workloads
from minimod.bench.workloads import WORKLOADS


def small_cnn(nn: Any) -> Any:
    return WORKLOADS["W3"].build(nn)


def resnet18(nn: Any, num_classes: int = 1000) -> Any:
    return workloads.resnet18(nn, num_classes=num_classes)


def randomise_batchnorm(torch: Any, model: Any, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5, generator=g)
                m.bias.uniform_(-0.5, 0.5, generator=g)
                m.running_mean.uniform_(-0.5, 0.5, generator=g)
                m.running_var.uniform_(0.5, 2.0, generator=g)
                m.num_batches_tracked.fill_(int(torch.randint(1, 1000, (), generator=g)))
