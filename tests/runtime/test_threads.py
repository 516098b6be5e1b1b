"""The thread pool, thread-count precedence, fork safety and the denormal mode."""

from __future__ import annotations

import multiprocessing as mp
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import minimod
from minimod import _core


def _squares_sum(n: int) -> int:
    return (n - 1) * n * (2 * n - 1) // 6


@pytest.fixture
def restore_threads():
    before = minimod.get_num_threads()
    yield
    minimod.set_num_threads(before)


def test_parallel_for_covers_the_range_for_every_thread_count(restore_threads):
    for threads in (1, 2, 3, 4):
        minimod.set_num_threads(threads)
        for n, grain in [(1, 1), (7, 1), (1000, 3), (100_000, 1000)]:
            assert _core._parallel_sum_test(n, grain) == _squares_sum(n)


def test_one_thread_starts_no_pool(restore_threads):
    minimod.set_num_threads(1)
    _core._parallel_sum_test(100_000, 10)
    assert _core._pool_size() == 0
    minimod.set_num_threads(2)
    _core._parallel_sum_test(100_000, 10)
    assert _core._pool_size() == 1


def test_concurrent_callers_from_python_threads(restore_threads):
    minimod.set_num_threads(2)
    errors = []

    def work():
        for _ in range(200):
            if _core._parallel_sum_test(4096, 16) != _squares_sum(4096):
                errors.append("wrong sum")

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_idle_workers_sleep(restore_threads):
    minimod.set_num_threads(2)
    _core._parallel_sum_test(100_000, 10)
    time.sleep(0.05)  # past the short post-job spin
    start = time.process_time()
    time.sleep(1.0)
    used = time.process_time() - start
    assert used < 0.05, f"idle pool used {used:.3f} s of CPU in 1 s"


def test_set_num_threads_rejects_non_positive():
    with pytest.raises(ValueError, match="positive"):
        minimod.set_num_threads(0)


def _threads_in_subprocess(env: dict) -> str:
    code = "import minimod; from minimod import _core; print(minimod.get_num_threads(), _core.num_threads_source())"
    full_env = {k: v for k, v in os.environ.items() if k not in ("MINIMOD_NUM_THREADS", "OMP_NUM_THREADS")}
    full_env.update(env)
    out = subprocess.run([sys.executable, "-c", code], env=full_env, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_thread_count_precedence():
    assert _threads_in_subprocess({"MINIMOD_NUM_THREADS": "3", "OMP_NUM_THREADS": "5"}) == "3 MINIMOD_NUM_THREADS"
    assert _threads_in_subprocess({"OMP_NUM_THREADS": "5"}) == "5 OMP_NUM_THREADS"
    default = _threads_in_subprocess({})
    assert default == f"{len(os.sched_getaffinity(0))} cpus available"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX-only")
def test_forked_child_rebuilds_the_pool(restore_threads):
    minimod.set_num_threads(2)
    _core._parallel_sum_test(100_000, 10)  # the parent's pool is running
    pid = os.fork()
    if pid == 0:  # child: must not hang or crash using the inherited (dead) pool
        ok = _core._parallel_sum_test(100_000, 10) == _squares_sum(100_000)
        os._exit(0 if ok else 3)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def _child_sum(n: int) -> int:
    return _core._parallel_sum_test(n, 10)


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_multiprocessing_start_methods(method, restore_threads):
    if method not in mp.get_all_start_methods():
        pytest.skip(f"{method} is not available on this platform")
    minimod.set_num_threads(2)
    _core._parallel_sum_test(100_000, 10)
    with mp.get_context(method).Pool(2) as pool:
        assert pool.map(_child_sum, [1000, 50_000]) == [_squares_sum(1000), _squares_sum(50_000)]


def test_flush_denormal_stays_inside_minimod():
    tiny = np.array([1e-39], dtype=np.float32)
    try:
        minimod.set_flush_denormal(False)
        assert _core._denormal_probe() != 0.0
        minimod.set_flush_denormal(True)
        assert _core._denormal_probe() == 0.0
        # the caller's floating-point mode is unchanged after a minimod call
        assert (tiny * np.float32(1.0))[0] != 0.0
    finally:
        minimod.set_flush_denormal(False)
