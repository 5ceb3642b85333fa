"""Temp projects driven through the real ``hotlap`` CLI (real pytest subprocesses)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any


def clean_env() -> dict[str, str]:
    """The environment without any outer hotlap/xdist run leaking into the nested one."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("HOTLAP_", "PYTEST_XDIST", "PYTEST_ADDOPTS", "COV_"))
    }


class Project:
    """Files under ``root`` plus helpers to run hotlap there."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.env: dict[str, str] = {}  # set on top of the clean environment

    def write(self, rel: str, text: str) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    def edit(self, rel: str, old: str, new: str) -> None:
        path = self.root / rel
        text = path.read_text(encoding="utf-8")
        assert old in text, f"{old!r} not in {rel}"
        path.write_text(text.replace(old, new, 1), encoding="utf-8")

    def hotlap(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "hotlap", *args],
            cwd=self.root,
            env={**clean_env(), **self.env},
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def run(self, *args: str, settle: bool = True) -> subprocess.CompletedProcess[str]:
        """``hotlap run --headless`` (records dependencies). ``settle``: then merge what the
        run left waiting, as the next hotlap command would. Whether the run merged its own
        data before exiting depends on how long its last merge took (on a loaded machine,
        more than ``QUICK_MERGE``), and an edit made before a merge of the run that preceded
        it is judged more coarsely (its file may have changed while the run ran): the tests
        here are about what is selected once the data is in, not about that timing."""
        proc = self.hotlap("run", "--headless", "--no-history", *args)
        if settle:
            from hotlap.impact import pending

            pending.merge_pending(self.root)
        return proc

    def affected(self, *args: str) -> dict[str, Any]:
        proc = self.hotlap("affected", "--json", *args)
        assert proc.returncode == 0, proc.stderr
        data: dict[str, Any] = json.loads(proc.stdout)
        data["stderr"] = proc.stderr
        return data

    def selected(self, *args: str) -> set[str]:
        data = self.affected(*args)
        assert not data["full_run"], data["reason"]
        return {t["nodeid"] for t in data["tests"]}


BASE = {
    "pyproject.toml": """
        [tool.pytest.ini_options]
        pythonpath = ["src"]
        testpaths = ["tests"]
        """,
    "src/pkg/__init__.py": """
        from pkg.shapes import Box
        """,
    "src/pkg/mathx.py": """
        FACTOR = 2

        def add(a, b):
            return a + b

        def mul(a, b):
            return a * b

        def scaled(x):
            return x * FACTOR
        """,
    "src/pkg/shapes.py": """
        from dataclasses import dataclass

        @dataclass
        class Box:
            size: int = 3

            def area(self):
                return self.size * self.size
        """,
    "tests/test_add.py": """
        from pkg.mathx import add

        def test_add():
            assert add(1, 2) == 3
        """,
    "tests/test_mul.py": """
        from pkg.mathx import mul

        def test_mul():
            assert mul(2, 3) == 6
        """,
    "tests/test_box.py": """
        from pkg import Box

        def test_box_default():
            assert Box().size == 3
        """,
    "tests/test_other.py": """
        def test_alone():
            assert 1 + 1 == 2
        """,
}
