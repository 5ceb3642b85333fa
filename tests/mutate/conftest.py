"""Fixtures of the mutation tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from mutate_helpers import Project


@pytest.fixture
def project(tmp_path: Path) -> Project:
    """An empty temp project (``src/pkg``, ``tests``, pytest configured)."""
    return Project(tmp_path / "proj")
