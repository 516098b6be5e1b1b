"""The fixed workloads (shared/WORKLOADS.md), written once against any ``nn`` namespace.

Each builder takes a module namespace (``torch.nn`` or ``minimod.nn``) and returns a model, so the
two runtimes run the very same architecture; the runner copies one state_dict into both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class Workload:
    id: str
    name: str
    build: Callable[[Any], Any]
    input_shape: tuple[int, ...]
    hooks: bool = False  # W6b: one forward pre-hook and one forward hook returning None


def _mlp(nn: Any) -> Any:
    return nn.Sequential(
        nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10)
    )


def _cnn_small(nn: Any) -> Any:
    def stage(cin: int, cout: int, pool: bool) -> list:
        layers = [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU()]
        return [*layers, nn.MaxPool2d(2)] if pool else layers

    return nn.Sequential(
        *stage(3, 32, True),
        *stage(32, 64, True),
        *stage(64, 128, False),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(128, 10),
    )


def resnet18(nn: Any, width: int = 64, num_classes: int = 1000) -> Any:
    """torchvision's ResNet-18 (BasicBlock x [2, 2, 2, 2]) with torchvision's module names, so a
    torchvision state_dict loads; ``width`` scales every stage (64 is the real network, tests use
    narrower ones). ``nn`` is ``torch.nn`` or ``minimod.nn``: one definition serves both runtimes."""

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
                self.downsample = nn.Sequential(
                    nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout)
                )

        def forward(self, x: Any) -> Any:
            identity = x if self.downsample is None else self.downsample(x)
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            out += identity  # in place, as torchvision writes it (a numpy output allows it too)
            return self.relu(out)

    class ResNet18(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            w = (width, 2 * width, 4 * width, 8 * width)
            self.conv1 = nn.Conv2d(3, w[0], 7, stride=2, padding=3, bias=False)
            self.bn1 = nn.BatchNorm2d(w[0])
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
            self.layer1 = nn.Sequential(BasicBlock(w[0], w[0], 1), BasicBlock(w[0], w[0], 1))
            self.layer2 = nn.Sequential(BasicBlock(w[0], w[1], 2), BasicBlock(w[1], w[1], 1))
            self.layer3 = nn.Sequential(BasicBlock(w[1], w[2], 2), BasicBlock(w[2], w[2], 1))
            self.layer4 = nn.Sequential(BasicBlock(w[2], w[3], 2), BasicBlock(w[3], w[3], 1))
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            self.fc = nn.Linear(w[3], num_classes)

        def forward(self, x: Any) -> Any:
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            x = self.avgpool(x)
            return self.fc(x.reshape(x.shape[0], -1))  # torch.flatten(x, 1), for both array types

    return ResNet18()


WORKLOADS: dict[str, Workload] = {
    w.id: w
    for w in [
        Workload("W1", "mlp-b1", _mlp, (1, 784)),
        Workload("W2", "mlp-b64", _mlp, (64, 784)),
        Workload("W3", "cnn-small-b1", _cnn_small, (1, 3, 32, 32)),
        Workload("W4", "resnet18-b1", resnet18, (1, 3, 224, 224)),
        Workload("W5a", "gemm", lambda nn: nn.Linear(1024, 1024), (256, 1024)),
        Workload(
            "W5b",
            "conv3x3",
            lambda nn: nn.Conv2d(64, 64, 3, padding=1, bias=False),
            (1, 64, 56, 56),
        ),
        Workload("W5c", "conv1x1", lambda nn: nn.Conv2d(256, 64, 1, bias=False), (1, 256, 56, 56)),
        Workload("W5d", "bn2d", lambda nn: nn.BatchNorm2d(64), (1, 64, 56, 56)),
        Workload(
            "W5e",
            "conv-dw",
            lambda nn: nn.Conv2d(128, 128, 3, padding=1, groups=128),
            (1, 128, 56, 56),
        ),
        Workload("W6a", "call-overhead", lambda nn: nn.Linear(16, 16), (1, 16)),
        Workload("W6b", "call-overhead-hooked", lambda nn: nn.Linear(16, 16), (1, 16), hooks=True),
    ]
}
