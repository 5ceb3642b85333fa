"""Fixtures of the watch tests."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from watch_helpers import Watch, clean_env, small_project


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A small project with one recorded run."""
    proj = tmp_path / "proj"
    small_project(proj)
    done = subprocess.run(
        [sys.executable, "-m", "hotlap", "run", "--headless", "--no-history", "-n", "0"],
        cwd=proj,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return proj


@pytest.fixture
def watch(root: Path) -> Iterator[Watch]:
    """``hotlap watch --headless`` on ``root``, stopped afterwards."""
    w = Watch(root)
    try:
        w.until_idle()
        yield w
    finally:
        w.stop()
