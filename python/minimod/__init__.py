"""minimod: PyTorch's nn.Module API over native CPU kernels, with numpy arrays in and out."""

from __future__ import annotations

from minimod import _core, _threadpool_controller, nn
from minimod._core import get_flush_denormal, get_num_threads, set_flush_denormal, set_num_threads
from minimod._random import manual_seed
from minimod._version import __version__
from minimod.inference import optimize_for_inference
from minimod.serialization import load, save

_threadpool_controller.install()  # threadpoolctl can cap minimod (registered lazily, never imported)

__all__ = [
    "__version__",
    "get_flush_denormal",
    "get_num_threads",
    "load",
    "manual_seed",
    "nn",
    "optimize_for_inference",
    "save",
    "set_flush_denormal",
    "set_num_threads",
]
