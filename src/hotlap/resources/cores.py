"""Effective cores: what this process may really use, not what the machine has."""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def cgroup_quota(root: Path = CGROUP_ROOT) -> float | None:
    """CPUs allowed by the cgroup (v2 ``cpu.max``, else v1 cfs quota), or None if unlimited."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        if quota != "max" and int(period) > 0:
            return int(quota) / int(period)
        return None
    except (OSError, ValueError):
        pass
    try:
        quota_us = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period_us = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        if quota_us > 0 and period_us > 0:
            return quota_us / period_us
    except (OSError, ValueError):
        pass
    return None


def affinity() -> int | None:
    """CPUs this process may be scheduled on, where the OS says."""
    getter = getattr(os, "sched_getaffinity", None)
    if getter is None:
        return None
    try:
        return len(getter(0))
    except OSError:  # pragma: no cover
        return None


def effective_cores(root: Path = CGROUP_ROOT) -> float:
    """min(logical CPUs, CPU affinity, cgroup quota); at least 1."""
    candidates: list[float] = [float(os.cpu_count() or 1)]
    aff = affinity()
    if aff:
        candidates.append(float(aff))
    quota = cgroup_quota(root)
    if quota:
        candidates.append(quota)
    return max(1.0, min(candidates))


def worker_count(cores: float) -> int:
    """How many xdist workers ``cores`` effective cores can keep busy (a quota of 1.5 → 1)."""
    return max(1, math.floor(cores + 1e-9))


def available_memory(meminfo: Path = Path("/proc/meminfo")) -> int:
    """Bytes of memory available for new processes: the kernel's ``MemAvailable``, read from
    ``meminfo`` (one small read; importing psutil for it cost the start of a run ~20 ms), or
    psutil's figure where there is no such file."""
    try:
        with open(meminfo, "rb") as f:
            for line in f:
                if line.startswith(b"MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    import psutil

    return int(psutil.virtual_memory().available)
