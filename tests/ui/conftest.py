"""Fixtures of the dashboard tests."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest


@pytest.fixture
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    """Drop the outer test run's hotlap/xdist variables so a child pytest starts clean."""
    for key in list(os.environ):
        if key.startswith(("HOTLAP_", "PYTEST_XDIST_")) or key in (
            "PYTEST_ADDOPTS",
            "PYTEST_CURRENT_TEST",
            "PYTEST_PLUGINS",
        ):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    return lambda: None
