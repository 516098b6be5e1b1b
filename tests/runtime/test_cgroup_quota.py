"""The cgroup CPU quota caps the default thread count (containers see every host core).

Each test builds a fake /proc and /sys tree under tmp_path and reads it through the same native
parser the pool uses at start-up (`_core._cgroup_cpu_limit(root)`).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from minimod import _core


def _write(root: Path, rel: str, text: str) -> None:
    path = root / rel.lstrip("/")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.mark.parametrize(
    ("cpu_max", "expected"),
    [
        ("max 100000\n", 0),  # no quota
        ("200000 100000\n", 2),
        ("150000 100000\n", 2),  # 1.5 CPUs: rounded up, the second CPU is usable half the time
        ("50000 100000\n", 1),  # below one CPU still means one thread
        ("100000 100000\n", 1),
        ("800000 100000\n", 8),
        ("garbage\n", 0),
        ("0 100000\n", 0),  # malformed quota: ignored, not a zero-thread pool
    ],
)
def test_cgroup_v2_quota_of_the_process_cgroup(tmp_path, cpu_max, expected):
    _write(tmp_path, "/proc/self/cgroup", "0::/app.slice/svc\n")
    _write(tmp_path, "/sys/fs/cgroup/app.slice/svc/cpu.max", cpu_max)
    assert _core._cgroup_cpu_limit(str(tmp_path)) == expected


def test_cgroup_v2_the_tightest_ancestor_wins(tmp_path):
    _write(tmp_path, "/proc/self/cgroup", "0::/outer/inner\n")
    _write(tmp_path, "/sys/fs/cgroup/cpu.max", "max 100000\n")
    _write(tmp_path, "/sys/fs/cgroup/outer/cpu.max", "300000 100000\n")
    _write(tmp_path, "/sys/fs/cgroup/outer/inner/cpu.max", "max 100000\n")
    assert _core._cgroup_cpu_limit(str(tmp_path)) == 3


def test_cgroup_v2_inside_a_container_reads_the_mount_root(tmp_path):
    # The container's /proc/self/cgroup names a host path that is not mounted inside it; the quota
    # sits on the container's own cgroup, mounted at /sys/fs/cgroup.
    _write(tmp_path, "/proc/self/cgroup", "0::/kubepods/pod1/abc\n")
    _write(tmp_path, "/sys/fs/cgroup/cpu.max", "250000 100000\n")
    assert _core._cgroup_cpu_limit(str(tmp_path)) == 3


@pytest.mark.parametrize(("quota", "period", "expected"), [("-1", "100000", 0), ("400000", "100000", 4), ("120000", "100000", 2)])
def test_cgroup_v1_cfs_quota(tmp_path, quota, period, expected):
    _write(tmp_path, "/proc/self/cgroup", "12:memory:/docker/x\n4:cpu,cpuacct:/docker/x\n")
    _write(tmp_path, "/sys/fs/cgroup/cpu,cpuacct/docker/x/cpu.cfs_quota_us", quota + "\n")
    _write(tmp_path, "/sys/fs/cgroup/cpu,cpuacct/docker/x/cpu.cfs_period_us", period + "\n")
    assert _core._cgroup_cpu_limit(str(tmp_path)) == expected


def test_no_cgroup_files_means_no_limit(tmp_path):
    assert _core._cgroup_cpu_limit(str(tmp_path)) == 0


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="needs sched_getaffinity")
def test_default_thread_count_is_the_affinity_mask_capped_by_the_real_quota():
    code = (
        "import os, minimod; from minimod import _core; "
        "limit = _core._cgroup_cpu_limit(''); cpus = len(os.sched_getaffinity(0)); "
        "print(minimod.get_num_threads(), min(cpus, limit) if limit else cpus)"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("MINIMOD_NUM_THREADS", "OMP_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    got, expected = out.stdout.split()
    assert got == expected
