"""The committed .pyi stubs of the native module match what the pinned generator makes now."""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PINNED = "3.0.0"  # keep in step with tools/gen_stubs.sh and the `dev` extra


def _stubgen_version() -> str | None:
    try:
        return importlib.metadata.version("pybind11-stubgen")
    except importlib.metadata.PackageNotFoundError:
        return None


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("bash") is None, reason="tools/gen_stubs.sh needs bash")
@pytest.mark.skipif(
    _stubgen_version() != PINNED,
    reason=f"needs pybind11-stubgen=={PINNED} (pip install '.[dev]'); .ci/run runs this check",
)
def test_committed_stubs_are_current():
    proc = subprocess.run(
        ["bash", str(ROOT / "tools" / "gen_stubs.sh"), "--check"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "PYTHON": sys.executable},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
