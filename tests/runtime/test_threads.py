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


def _run_python(code: str, env: dict | None = None) -> str:
    full_env = {k: v for k, v in os.environ.items() if k not in ("MINIMOD_NUM_THREADS", "OMP_NUM_THREADS")}
    full_env.update(env or {})
    out = subprocess.run([sys.executable, "-c", code], env=full_env, capture_output=True, text=True, check=True)
    return out.stdout.strip()


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs sched_setaffinity")
def test_default_thread_count_follows_the_affinity_mask_not_the_host():
    # Restricting the process to one CPU before the pool starts gives one thread, whatever the
    # host's core count; an environment variable still wins over the mask.
    code = (
        "import os; os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]}); import minimod; "
        "from minimod import _core; print(minimod.get_num_threads(), _core.num_threads_source())"
    )
    assert _run_python(code) == "1 cpus available"
    assert _run_python(code, {"OMP_NUM_THREADS": "3"}) == "3 OMP_NUM_THREADS"
    assert _run_python(code, {"MINIMOD_NUM_THREADS": "2", "OMP_NUM_THREADS": "3"}) == "2 MINIMOD_NUM_THREADS"


def test_thread_count_is_read_when_the_pool_starts_not_at_import():
    code = (
        "import os, minimod; os.environ['MINIMOD_NUM_THREADS'] = '3'; "
        "from minimod import _core; print(minimod.get_num_threads(), _core.num_threads_source())"
    )
    assert _run_python(code) == "3 MINIMOD_NUM_THREADS"


def test_invalid_environment_values_fall_through_to_the_next_source():
    code = "import minimod; from minimod import _core; print(minimod.get_num_threads(), _core.num_threads_source())"
    assert _run_python(code, {"MINIMOD_NUM_THREADS": "zero", "OMP_NUM_THREADS": "2"}) == "2 OMP_NUM_THREADS"
    assert _run_python(code, {"MINIMOD_NUM_THREADS": "-4", "OMP_NUM_THREADS": "0"}).endswith("cpus available")


def test_one_thread_runs_models_on_the_calling_thread():
    # OS threads counted after the imports (numpy's BLAS may start its own) and after the calls.
    code = (
        "import os, threading, numpy as np, minimod, minimod.nn as nn; minimod.set_num_threads(1); "
        "before = len(os.listdir('/proc/self/task')); "
        "m = nn.Sequential(nn.Conv2d(3, 16, 3), nn.ReLU(), nn.Linear(30, 10)).eval(); "
        "[m(np.ones((4, 3, 32, 32), np.float32)) for _ in range(20)]; "
        "from minimod import _core; print(_core._pool_size(), threading.active_count(), "
        "len(os.listdir('/proc/self/task')) - before)"
    )
    pool, py_threads, new_os_threads = _run_python(code).split()
    assert (pool, py_threads, new_os_threads) == ("0", "1", "0")


def _task_cpu_ticks() -> dict:
    ticks = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            ticks[tid] = int(fields[11]) + int(fields[12])  # utime + stime (fields 14 and 15)
        except (FileNotFoundError, ProcessLookupError):
            pass
    return ticks


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="needs /proc/self/task")
def test_idle_pool_threads_sleep_per_thread(restore_threads):
    # Per thread, from the kernel's accounting: after a real model call, no worker burns CPU.
    import minimod.nn as nn

    minimod.set_num_threads(2)
    model = nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3)).eval()
    model(np.ones((2, 3, 64, 64), np.float32))
    assert _core._pool_size() == 1
    time.sleep(0.05)  # past the short post-job spin
    before = _task_cpu_ticks()
    time.sleep(1.0)
    after = _task_cpu_ticks()
    hz = os.sysconf("SC_CLK_TCK")
    busiest = max((after[t] - before.get(t, 0)) / hz for t in after)
    assert busiest < 0.05, f"a thread used {busiest:.3f} s of CPU in 1 s of idling"


@pytest.mark.parametrize("threads", [1, 2, 4])
def test_an_allocation_failure_inside_a_chunk_becomes_memory_error(threads, restore_threads):
    minimod.set_num_threads(threads)
    n, grain = 1000, 10
    chunks = max(1, min(threads, n // grain))
    failing_item = n - 1  # in the last chunk, which a worker usually takes
    # The exception reaches Python as MemoryError, in the calling thread ...
    with pytest.raises(MemoryError):
        _core._parallel_fail_test(n, grain, failing_item, True)
    # ... only after every other chunk ran to completion (no job left half-done in the pool) ...
    last_chunk_begin = n * (chunks - 1) // chunks
    assert _core._parallel_fail_test(n, grain, failing_item, False) == last_chunk_begin
    # ... and the pool still works afterwards.
    assert _core._parallel_sum_test(50_000, 100) == _squares_sum(50_000)


def _cpu_after_one_job(spin_us: str) -> float:
    """CPU seconds the process uses in the 0.3 s after one parallel job, with MINIMOD_SPIN_US."""
    code = (
        "import time, minimod; from minimod import _core; minimod.set_num_threads(2); "
        "_core._parallel_sum_test(100_000, 10); start = time.process_time(); time.sleep(0.3); "
        "print(time.process_time() - start)"
    )
    return float(_run_python(code, {"MINIMOD_SPIN_US": spin_us}))


def test_spin_window_is_set_by_minimod_spin_us():
    # A worker waits for the next job spinning for the window, then sleeps: with a 1 s window it
    # is still spinning through the whole 0.3 s (the caller's sleep costs nothing), with 0 it
    # sleeps at once, and the default (3 ms) costs only those milliseconds.
    assert _cpu_after_one_job("1000000") > 0.15
    assert _cpu_after_one_job("0") < 0.05
    assert _cpu_after_one_job("") < 0.05
