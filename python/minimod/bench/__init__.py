"""The built-in benchmark: the fixed workloads of WORKLOADS.md, minimod beside PyTorch."""

from __future__ import annotations

from minimod.bench.runner import run
from minimod.bench.workloads import WORKLOADS

__all__ = ["WORKLOADS", "run"]
