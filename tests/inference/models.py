"""Models for the inference tests, built against any nn namespace (minimod.nn or torch.nn)."""

from __future__ import annotations

import numpy as np
from numpy_reference import randomise_bn

from minimod.bench.workloads import WORKLOADS


class _NamespaceWithFlatten:
    """``nn`` plus a Flatten when the namespace has none yet (W3 needs one)."""

    def __init__(self, nn):
        self._nn = nn

    def __getattr__(self, name):
        if name == "Flatten" and not hasattr(self._nn, "Flatten"):
            nn = self._nn

            class Flatten(nn.Module):
                def forward(self, x):
                    return x.reshape(x.shape[0], -1)

            return Flatten
        return getattr(self._nn, name)


def build(workload_id, nn):
    return WORKLOADS[workload_id].build(_NamespaceWithFlatten(nn))


def randomise(model, seed):
    """Random BatchNorm statistics everywhere (fresh ones would make BN the identity)."""
    rng = np.random.default_rng(seed)
    for m in model.modules():
        if hasattr(m, "running_var") and getattr(m, "num_features", None) is not None:
            randomise_bn(m, rng)
    return model


def torch_copy(torch, minimod_model, workload_id):
    """The same workload in torch with minimod_model's state_dict loaded."""
    t = build(workload_id, torch.nn)
    t.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in minimod_model.state_dict().items()})
    return t.eval()
