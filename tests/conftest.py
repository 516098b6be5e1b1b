"""Shared test settings: hypothesis profiles and ISA helpers."""

from __future__ import annotations

import os

try:
    from hypothesis import HealthCheck, settings
except ImportError:  # hypothesis is in the [test] extra; property tests import it themselves
    settings = None

if settings is not None:
    # "default" runs thousands of examples across the property suites in CI; "sanitizer" keeps the
    # ASan/UBSan run inside the CI budget (every example is ~3x slower there).
    settings.register_profile(
        "default", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
    )
    settings.register_profile(
        "sanitizer", max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
    )
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
