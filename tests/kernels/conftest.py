"""Fixtures shared by the kernel tests: every ISA path the CPU supports, thread counts."""

from __future__ import annotations

import pytest

from minimod import _core

_ORDER = ["generic", "avx2", "avx512"]
ISAS = _ORDER[: _ORDER.index(_core.detected_isa()) + 1]


@pytest.fixture(params=ISAS)
def isa(request):
    """Runs the test on one kernel path, restoring the active path afterwards."""
    before = _core.active_isa()
    _core._set_active_isa(request.param)
    try:
        yield request.param
    finally:
        _core._set_active_isa(before)


@pytest.fixture
def threads(request):
    """Sets minimod's thread count for a test (parametrize indirectly), restoring it after."""
    before = _core.get_num_threads()
    _core.set_num_threads(request.param)
    try:
        yield request.param
    finally:
        _core.set_num_threads(before)
