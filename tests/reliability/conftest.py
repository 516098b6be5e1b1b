"""Fixtures of the reliability suite."""

from __future__ import annotations

import os
import resource

import pytest

# Under AddressSanitizer the process maps terabytes of shadow memory, so an address-space limit
# cannot be used there; ASan itself refuses (allocator_may_return_null=1) what would not fit.
_UNDER_ASAN = "asan" in os.environ.get("LD_PRELOAD", "")


@pytest.fixture(scope="module")
def address_space_limit():
    """Caps this process's address space at its current size + 4 GiB for the fuzz tests.

    A fuzzed argument that slipped past a check and asked for tens of gigabytes would otherwise
    be granted by the kernel's overcommit and take the machine down; with the cap the allocation
    fails and minimod must turn that into a Python exception.
    """
    if _UNDER_ASAN:
        options = os.environ.get("ASAN_OPTIONS", "")
        if "allocator_may_return_null=1" not in options or "max_allocation_size_mb" not in options:
            pytest.fail("the fuzz suite asks for impossible allocations on purpose: run it under ASan with "
                        "ASAN_OPTIONS=...:allocator_may_return_null=1:max_allocation_size_mb=4096 so that "
                        "they fail (MemoryError) instead of aborting or exhausting the machine")
        yield
        return
    with open("/proc/self/statm") as f:
        vm_bytes = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = vm_bytes + (4 << 30)
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
