"""The ``hx`` fixture: hostile suites run for real (see ``harness.py``)."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest


def load_harness() -> ModuleType:
    """``tests/faults/harness.py`` as a module (conftest modules cannot import each other)."""
    name = "hotlap_faults_harness"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("harness.py"))
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture
def hx(tmp_path: Path) -> Iterator[object]:
    """A :class:`Kit` for one test; whatever its processes leave behind is killed after it."""
    kit = load_harness().Kit(tmp_path)
    yield kit
    kit.cleanup()
