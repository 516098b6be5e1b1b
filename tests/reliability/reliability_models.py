"""Small models for the reliability tests: every layer type and the workload architectures.

The workload models are WORKLOADS.md's W1 (MLP), W3 (small CNN) and a reduced ResNet-18 (the
same BasicBlock layout with narrower channels and a smaller input, so that tests stay fast).
Builders are module-level functions so the models pickle and travel to spawned processes. That is
also why the reduced ResNet is written out here rather than taken from minimod.bench.workloads'
resnet18(nn, width=...): plain pickle cannot find the classes that builder defines locally.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import minimod.nn as nn
from minimod.bench.workloads import WORKLOADS


def mlp() -> Any:
    return WORKLOADS["W1"].build(nn)


def cnn_small() -> Any:
    return WORKLOADS["W3"].build(nn)


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: Any) -> Any:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet18Reduced(nn.Module):
    """ResNet-18's layout (BasicBlock x [2, 2, 2, 2]) at a quarter of the width."""

    def __init__(self, width: int = 16, classes: int = 10) -> None:
        super().__init__()
        w = [width, 2 * width, 4 * width, 8 * width]
        self.conv1 = nn.Conv2d(3, w[0], 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(w[0])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = nn.Sequential(BasicBlock(w[0], w[0], 1), BasicBlock(w[0], w[0], 1))
        self.layer2 = nn.Sequential(BasicBlock(w[0], w[1], 2), BasicBlock(w[1], w[1], 1))
        self.layer3 = nn.Sequential(BasicBlock(w[1], w[2], 2), BasicBlock(w[2], w[2], 1))
        self.layer4 = nn.Sequential(BasicBlock(w[2], w[3], 2), BasicBlock(w[3], w[3], 1))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(w[3], classes)

    def forward(self, x: Any) -> Any:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = self.avgpool(x)
        return self.fc(x.reshape(x.shape[0], -1))


def randomize_batchnorm(model: Any, seed: int = 0) -> Any:
    """Non-trivial running statistics and affine parameters, so BatchNorm does real work."""
    rng = np.random.default_rng(seed)
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)):
            c = m.num_features
            m.running_mean[...] = rng.standard_normal(c) * 0.1
            m.running_var[...] = rng.uniform(0.5, 1.5, c)
            m.weight[...] = rng.uniform(0.5, 1.5, c)
            m.bias[...] = rng.standard_normal(c) * 0.1
    return model.eval()


# name -> (builder, input shape): every layer type, then the workload models.
LAYER_CASES = {
    "Linear": (lambda: nn.Linear(64, 48), (8, 64)),
    "Conv1d": (lambda: nn.Conv1d(4, 8, 3, padding=1), (2, 4, 40)),
    "Conv2d": (lambda: nn.Conv2d(4, 8, 3, padding=1), (2, 4, 20, 20)),
    "Conv2d-depthwise": (lambda: nn.Conv2d(8, 8, 3, padding=1, groups=8), (2, 8, 20, 20)),
    "Conv2d-1x1": (lambda: nn.Conv2d(16, 8, 1), (2, 16, 12, 12)),
    "Conv3d": (lambda: nn.Conv3d(2, 4, 3, padding=1), (1, 2, 8, 8, 8)),
    "BatchNorm1d": (lambda: nn.BatchNorm1d(16), (8, 16)),
    "BatchNorm2d": (lambda: nn.BatchNorm2d(8), (2, 8, 12, 12)),
    "BatchNorm3d": (lambda: nn.BatchNorm3d(4), (2, 4, 6, 6, 6)),
    "ReLU": (lambda: nn.ReLU(), (4, 1000)),
    "ReLU6": (lambda: nn.ReLU6(), (4, 1000)),
    "Hardtanh": (lambda: nn.Hardtanh(), (4, 1000)),
    "LeakyReLU": (lambda: nn.LeakyReLU(0.1), (4, 1000)),
    "GELU": (lambda: nn.GELU(), (4, 1000)),
    "SiLU": (lambda: nn.SiLU(), (4, 1000)),
    "Sigmoid": (lambda: nn.Sigmoid(), (4, 1000)),
    "Tanh": (lambda: nn.Tanh(), (4, 1000)),
    "Hardswish": (lambda: nn.Hardswish(), (4, 1000)),
    "Softmax": (lambda: nn.Softmax(dim=1), (4, 1000)),
    "MaxPool1d": (lambda: nn.MaxPool1d(3, 2, 1), (2, 4, 50)),
    "MaxPool2d": (lambda: nn.MaxPool2d(3, 2, 1), (2, 4, 20, 20)),
    "AvgPool1d": (lambda: nn.AvgPool1d(3, 2, 1), (2, 4, 50)),
    "AvgPool2d": (lambda: nn.AvgPool2d(3, 2, 1), (2, 4, 20, 20)),
    "AdaptiveAvgPool1d": (lambda: nn.AdaptiveAvgPool1d(7), (2, 4, 50)),
    "AdaptiveAvgPool2d": (lambda: nn.AdaptiveAvgPool2d((5, 3)), (2, 4, 20, 20)),
    "AdaptiveMaxPool2d": (lambda: nn.AdaptiveMaxPool2d((5, 3)), (2, 4, 20, 20)),
    "Dropout(eval)": (lambda: nn.Dropout(0.5), (4, 100)),
    "Flatten": (nn.Flatten, (2, 4, 5, 5)),
}

WORKLOAD_CASES = {
    "W1-mlp": (mlp, (4, 784)),
    "W3-cnn-small": (cnn_small, (2, 3, 32, 32)),
    "resnet18-reduced": (ResNet18Reduced, (1, 3, 64, 64)),
}

ALL_CASES = {**LAYER_CASES, **WORKLOAD_CASES}


def build(name: str, seed: int = 0) -> Any:
    from minimod import manual_seed

    manual_seed(seed)
    return randomize_batchnorm(ALL_CASES[name][0](), seed)


def inputs(name: str, count: int, seed: int = 1) -> list:
    rng = np.random.default_rng(seed)
    shape = ALL_CASES[name][1]
    return [rng.standard_normal(shape).astype(np.float32) for _ in range(count)]
