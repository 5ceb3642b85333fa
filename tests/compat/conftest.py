"""The ``hx`` fixture of ``tests/faults`` (the same harness), for the compatibility tests."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

_HARNESS = Path(__file__).parents[1] / "faults" / "harness.py"


def load_harness() -> ModuleType:
    """``tests/faults/harness.py`` as a module (conftest modules cannot import each other)."""
    name = "hotlap_faults_harness"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, _HARNESS)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture
def hx(tmp_path: Path) -> Iterator[object]:
    """A harness ``Kit`` for one test; whatever its processes leave behind is killed after it."""
    kit = load_harness().Kit(tmp_path)
    yield kit
    kit.cleanup()
