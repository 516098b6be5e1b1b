"""`python -m minimod info`: version, CPU features, kernel path, threads and where they came from.

Each case runs in a fresh interpreter, because the thread count and MINIMOD_ISA are read once per
process.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

import minimod
from minimod import _core


def _info(*args: str, **env: str) -> dict[str, str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in ("MINIMOD_NUM_THREADS", "OMP_NUM_THREADS", "MINIMOD_ISA")
    }
    proc = subprocess.run(
        [sys.executable, "-m", "minimod", "info", *args],
        capture_output=True,
        text=True,
        env={**clean, **env},
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith(f"minimod {minimod.__version__} ")
    return dict(line.split(": ", 1) for line in lines[1:])


def test_default_threads_are_the_usable_cpus():
    info = _info()
    expected = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    # A cgroup CPU quota may lower the count below the affinity mask, never raise it.
    count, where = re.fullmatch(r"(\d+) \((.*)\)", info["threads"]).groups()
    assert 1 <= int(count) <= expected
    assert where == "default: the CPUs this process may use"


@pytest.mark.parametrize("var", ["MINIMOD_NUM_THREADS", "OMP_NUM_THREADS"])
def test_threads_from_an_env_var(var):
    assert _info(**{var: "3"})["threads"] == f"3 (env var {var})"


def test_minimod_env_var_wins_over_omp():
    assert (
        _info(MINIMOD_NUM_THREADS="2", OMP_NUM_THREADS="5")["threads"]
        == "2 (env var MINIMOD_NUM_THREADS)"
    )


def test_threads_from_the_argument_win_over_env():
    assert _info("--threads", "4", MINIMOD_NUM_THREADS="2")["threads"] == "4 (argument --threads)"


def test_kernel_path_default_and_forced():
    best = _core.detected_isa()
    info = _info()
    assert info["best kernel path for this cpu"] == best
    assert info["kernel path in use"] == f"{best} (the best this cpu supports)"
    forced = _info(MINIMOD_ISA="generic")
    assert forced["kernel path in use"] == "generic (MINIMOD_ISA=generic)"


def test_cpu_features_agree_with_the_kernel_path():
    features = _info()["cpu features"]
    if features == "not reported by this OS":
        pytest.skip("no /proc/cpuinfo here")
    flags = set(features.split())
    best = _core.detected_isa()
    # minimod's own CPUID check must never pick a path the OS says the CPU lacks.
    if best in ("avx2", "avx512"):
        assert {"avx2", "fma"} <= flags
    if best == "avx512":
        assert "avx512f" in flags


def test_bad_thread_argument_is_refused():
    proc = subprocess.run(
        [sys.executable, "-m", "minimod", "info", "--threads", "0"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2
    assert "expected a positive integer, got '0'" in proc.stderr


def test_a_reader_that_closes_the_pipe_early_gets_no_traceback():
    # `python -m minimod info | head -1`: the reader is gone before most lines are written.
    read_end, write_end = os.pipe()
    os.close(read_end)
    proc = subprocess.run(
        [sys.executable, "-m", "minimod", "info"],
        stdout=write_end,
        stderr=subprocess.PIPE,
        text=True,
        timeout=120,
        check=False,
    )
    os.close(write_end)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 141
