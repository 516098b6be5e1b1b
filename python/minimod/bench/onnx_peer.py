"""ONNX Runtime as a third column: the torch model exported once to ONNX, run by an ORT session.

Optional: used only when both ``onnxruntime`` and ``onnx`` import
(``pip install 'minimod[bench]'``).
The export uses TorchScript tracing (``dynamo=False``), which needs no onnxscript. Exported files
are cached in the temp dir under a key made of the workload id, the torch version and a hash of the
weights, so a second ``bench`` run skips the export and a changed model never reuses a stale file.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import warnings
from typing import Any, Callable

import numpy as np


def available() -> Any:
    """The onnxruntime module when it and onnx (torch's exporter needs it) import, else None."""
    try:
        import onnx  # noqa: F401, PLC0415
        import onnxruntime  # noqa: PLC0415
    except ImportError:
        return None
    return onnxruntime


def cache_dir() -> str:
    path = os.path.join(tempfile.gettempdir(), "minimod-bench-onnx")
    os.makedirs(path, exist_ok=True)
    return path


def _weights_digest(torch_model: Any) -> str:
    digest = hashlib.sha256()
    for name, value in torch_model.state_dict().items():
        digest.update(name.encode())
        digest.update(value.detach().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def export(torch: Any, torch_model: Any, x: np.ndarray, workload_id: str) -> str:
    """The path of the ONNX file for ``torch_model`` (exported now unless cached)."""
    key = f"{workload_id}-torch{torch.__version__}-{_weights_digest(torch_model)}.onnx"
    path = os.path.join(cache_dir(), key.replace("+", "_"))
    if not os.path.exists(path):
        tmp = f"{path}.{os.getpid()}.tmp"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the exporter's deprecation notes are not ours
            torch.onnx.export(
                torch_model, (torch.from_numpy(x),), tmp, input_names=["x"], dynamo=False
            )
        os.replace(tmp, path)  # atomic: a concurrent run never reads a half-written file
    return path


def session_call(ort: Any, path: str, x: np.ndarray, threads: int) -> Callable[[], Any]:
    """A callable running one ORT inference of ``x`` with ``threads`` intra-op threads."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    feeds = {session.get_inputs()[0].name: x}

    def call() -> Any:
        return session.run(None, feeds)[0]

    return call
