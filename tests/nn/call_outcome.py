"""What a call produced, value or exception, so a path under test can be compared with its reference
whichever way both end (the fused / lean conv paths must return the same array, or raise the same
exception type with the same message, as the path they stand in for)."""

from __future__ import annotations

from typing import Any, Callable


def outcome(fn: Callable[..., Any], *args: Any) -> Any:
    """fn(*args), or the exception it raised."""
    try:
        return fn(*args)
    except Exception as e:  # noqa: BLE001
        return e


def assert_same_error(out: Any, ref: Exception) -> None:
    assert type(out) is type(ref) and str(out) == str(ref), (out, ref)
