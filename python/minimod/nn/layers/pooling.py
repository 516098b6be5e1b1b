"""Placeholder: filled in by the work on its issue."""

from __future__ import annotations

__all__: list[str] = []
