"""Architecture boundaries: only hotlap.ui imports Textual; protocol is pytest-free."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "hotlap"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _modules(exclude: str | None = None) -> list[Path]:
    return [
        p
        for p in SRC.rglob("*.py")
        if "demo/suite" not in p.as_posix() and (exclude is None or exclude not in p.parts)
    ]


def test_nothing_outside_ui_imports_textual() -> None:
    """Every module outside src/hotlap/ui/ is free of ``textual`` imports (static check)."""
    offenders = [
        str(p.relative_to(SRC))
        for p in _modules(exclude="ui")
        if any(n == "textual" or n.startswith("textual.") for n in _imports(p))
    ]
    assert offenders == []


@pytest.mark.parametrize("package", ["protocol", "model"])
def test_core_packages_import_neither_pytest_nor_textual(package: str) -> None:
    """protocol/ and model/ stay plain Python: no pytest, no Textual."""
    for path in (SRC / package).rglob("*.py"):
        bad = {n for n in _imports(path) if n.split(".")[0] in ("pytest", "_pytest", "textual")}
        assert not bad, f"{path.relative_to(SRC)} imports {bad}"


def test_importing_the_engine_loads_no_textual() -> None:
    """At run time, importing the CLI, runner, plugin and exports pulls in no Textual."""
    code = (
        "import sys, hotlap, hotlap.cli, hotlap.runner.session, hotlap.runner.headless, "
        "hotlap.plugin.pytest_plugin, hotlap.export.report, hotlap.model.run_state; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'textual'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
