"""A one-line progress bar on stderr for the benchmark (no dependency).

On a terminal the bar redraws in place; when stderr is a file or a pipe (CI logs) each step is one
plain line instead, so logs do not fill with carriage returns.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressBar:
    def __init__(self, total: int, width: int = 24, stream: TextIO | None = None) -> None:
        self.total = max(total, 1)
        self.width = width
        self.stream = stream if stream is not None else sys.stderr
        self.interactive = bool(getattr(self.stream, "isatty", lambda: False)())
        self.start = time.perf_counter()
        self.done = 0

    def update(self, done: int, label: str) -> None:
        self.done = done
        elapsed = time.perf_counter() - self.start
        if self.interactive:
            filled = self.width * done // self.total
            bar = "#" * filled + "." * (self.width - filled)
            line = f"\r[{bar}] {done}/{self.total} {elapsed:5.0f}s {label:<40.40}"
            self.stream.write(line)
        else:
            self.stream.write(f"[{done}/{self.total}] {elapsed:.0f}s {label}\n")
        self.stream.flush()

    def close(self) -> None:
        if self.interactive:
            self.stream.write("\n")
            self.stream.flush()
