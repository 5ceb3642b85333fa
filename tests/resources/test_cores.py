"""Effective cores: cgroup v2/v1 quota parsing and the min() over the OS's limits."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hotlap.resources.cores import (
    affinity,
    available_memory,
    cgroup_quota,
    effective_cores,
    worker_count,
)


def machine_limit() -> float:
    """What the machine allows without any cgroup: min(cpu_count, affinity)."""
    limits = [float(os.cpu_count() or 1)]
    aff = affinity()
    if aff:
        limits.append(float(aff))
    return min(limits)


@pytest.mark.parametrize(
    ("cpu_max", "expected"),
    [("150000 100000\n", 1.5), ("200000 100000", 2.0), ("max 100000\n", None)],
)
def test_cgroup_v2_cpu_max(tmp_path: Path, cpu_max: str, expected: float | None) -> None:
    """cpu.max "quota period" gives quota/period CPUs; "max" means no limit."""
    (tmp_path / "cpu.max").write_text(cpu_max)
    assert cgroup_quota(tmp_path) == expected


def test_cgroup_v1_cfs_quota(tmp_path: Path) -> None:
    """Without cpu.max, the v1 cfs quota/period pair is read; -1 means unlimited."""
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("250000\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert cgroup_quota(tmp_path) == 2.5
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    assert cgroup_quota(tmp_path) is None


def test_no_or_garbled_cgroup_files_mean_no_quota(tmp_path: Path) -> None:
    """A missing or unparsable cgroup directory never raises."""
    assert cgroup_quota(tmp_path / "missing") is None
    (tmp_path / "cpu.max").write_text("garbage")
    assert cgroup_quota(tmp_path) is None


def test_effective_cores_takes_the_quota_when_it_is_lower(tmp_path: Path) -> None:
    """A 1.5-CPU quota caps the result (on a machine with ≥ 2 CPUs) and gives one worker."""
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    cores = effective_cores(tmp_path)
    assert cores == max(1.0, min(machine_limit(), 1.5))
    assert worker_count(cores) == 1


def test_effective_cores_is_at_least_one(tmp_path: Path) -> None:
    """A tiny quota (0.2 CPU) still counts as one core; the real machine has ≥ 1."""
    (tmp_path / "cpu.max").write_text("20000 100000\n")
    assert effective_cores(tmp_path) == 1.0
    assert effective_cores() >= 1
    assert effective_cores(tmp_path / "missing") == max(1.0, machine_limit())


@pytest.mark.parametrize(("cores", "workers"), [(1.0, 1), (1.5, 1), (2.0, 2), (3.99, 3), (0.5, 1)])
def test_worker_count(cores: float, workers: int) -> None:
    """Workers are the whole effective cores, at least one."""
    assert worker_count(cores) == workers


def test_available_memory_is_the_kernels_memavailable(tmp_path: Path) -> None:
    """MemAvailable from meminfo (kB), without psutil; psutil's figure when the file has none
    or is missing."""
    import psutil

    meminfo = tmp_path / "meminfo"
    meminfo.write_text(
        "MemTotal:       16000000 kB\nMemFree:  100 kB\nMemAvailable:    5000000 kB\n"
    )
    assert available_memory(meminfo) == 5_000_000 * 1024
    meminfo.write_text("MemTotal:       16000000 kB\n")
    fallback = available_memory(meminfo)
    assert abs(fallback - psutil.virtual_memory().available) < 1 << 30
    assert available_memory(tmp_path / "missing") > 0
