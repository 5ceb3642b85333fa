"""Fixtures of the impact tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from impact_helpers import BASE, Project


@pytest.fixture
def project(tmp_path: Path) -> Project:
    """A recorded temp project (one full run done)."""
    proj = Project(tmp_path / "proj")
    for rel, text in BASE.items():
        proj.write(rel, text)
    return proj
