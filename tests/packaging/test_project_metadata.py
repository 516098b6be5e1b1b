"""Project metadata that must not drift: one version, the wheel-building matrix and its choices."""

from __future__ import annotations

import importlib.metadata
import re
import sys
from pathlib import Path

import pytest

import minimod

ROOT = Path(__file__).resolve().parents[2]

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = pytest.importorskip("tomli")


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_version_has_one_source():
    project = _pyproject()
    assert "version" in project["project"]["dynamic"]
    assert "version" not in project["project"]
    provider = project["tool"]["scikit-build"]["metadata"]["version"]
    assert provider["input"] == "python/minimod/_version.py"
    text = (ROOT / provider["input"]).read_text(encoding="utf-8")
    assert re.fullmatch(r'__version__ = "(\d+\.\d+\.\d+)"\n', text).group(1) == minimod.__version__
    assert importlib.metadata.version("minimod") == minimod.__version__


def test_changelog_has_a_section_for_this_version():
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert re.search(rf"^## \[{re.escape(minimod.__version__)}\]", changelog, re.MULTILINE)


def test_package_is_typed():
    package = Path(minimod.__file__).parent
    assert (package / "py.typed").is_file()
    assert (package / "_core" / "__init__.pyi").is_file()


def test_cibuildwheel_matrix_and_decisions():
    cibw = _pyproject()["tool"]["cibuildwheel"]
    assert "cp3??t-*" in cibw["skip"]  # free-threaded CPython: decided against, see pyproject
    assert "not slow" in cibw["test-command"] and "{project}/tests" in cibw["test-command"]
    assert cibw["linux"]["archs"] == ["x86_64", "aarch64"]
    assert cibw["macos"]["archs"] == ["arm64", "x86_64"]
    assert cibw["windows"]["archs"] == ["AMD64"]
    assert "--disable-isa-ext-check" not in cibw["linux"]["repair-wheel-command"]
