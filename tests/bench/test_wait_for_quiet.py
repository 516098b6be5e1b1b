"""The bench's pause before each sample lasts until no thread of the process burns CPU."""

import threading
import time

from minimod.bench.runner import wait_for_quiet


def _spin_for(seconds: float, started: threading.Event) -> None:
    started.set()
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def test_returns_soon_when_idle() -> None:
    waited = wait_for_quiet()
    assert 0.0 < waited < 0.25


def test_waits_out_a_spinning_thread() -> None:
    # Like a peer runtime's pool worker spin-waiting after a call: the next sample must not start
    # while it still holds a core.
    started = threading.Event()
    spinner = threading.Thread(target=_spin_for, args=(0.06, started))
    spinner.start()
    started.wait()
    t0 = time.perf_counter()
    waited = wait_for_quiet()
    spinner.join()
    assert waited >= 0.04, f"returned after {waited * 1e3:.1f} ms while a thread still spun"
    assert time.perf_counter() - t0 < 1.0
