"""Helpers of the plugin's integration tests: temp projects and real ``pytest`` subprocesses.

The outer run may be an xdist worker driven by hotlap: the children get an environment
without its ``HOTLAP_*``/``PYTEST_*`` variables, and each temp project has its own pytest.ini.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

TIMEOUT = 60
_DROP_EXACT = {
    "PYTEST_ADDOPTS",
    "PYTEST_CURRENT_TEST",
    "PYTEST_PLUGINS",
    "PYTEST_DISABLE_PLUGIN_AUTOLOAD",
}
_SUMMARY = re.compile(r"^=*\s*(?P<body>(?:no tests ran|\d+ \w+).*?) in [\d.]+s\b")


@dataclass
class Result:
    """A finished ``pytest`` child process."""

    args: list[str]
    code: int
    stdout: str
    stderr: str

    def describe(self) -> str:
        return (
            f"$ {' '.join(self.args)}\n-> {self.code}\n{self.stdout}\n--- stderr ---\n{self.stderr}"
        )

    @property
    def counts(self) -> dict[str, int]:
        """The summary line's counts ("2 errors" -> error; warnings left out)."""
        body = None
        for line in self.stdout.splitlines():
            match = _SUMMARY.match(line.strip())
            if match:
                body = match.group("body")
        assert body is not None, f"no summary line\n{self.describe()}"
        counts: dict[str, int] = {}
        for number, word in re.findall(r"(\d+) ((?:subtests )?[a-z]+)", body):
            if word not in ("warning", "warnings"):
                word = "error" if word == "errors" else word
                counts[word] = counts.get(word, 0) + int(number)
        return counts


class PluginHarness:
    """Writes temp projects and runs pytest on them."""

    @staticmethod
    def env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """``os.environ`` without the outer run's hotlap/xdist variables, plus ``extra``."""
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("HOTLAP_", "PYTEST_XDIST_")) and k not in _DROP_EXACT
        }
        env.update(extra or {})
        return env

    @staticmethod
    def write_project(root: Path, files: Mapping[str, str]) -> Path:
        root.mkdir(parents=True, exist_ok=True)
        (root / "pytest.ini").write_text("[pytest]\n")
        for name, text in files.items():
            (root / name).write_text(textwrap.dedent(text))
        return root

    @staticmethod
    def run_pytest(cwd: Path, *args: str, env: Mapping[str, str] | None = None) -> Result:
        """``python -m pytest ARGS`` in ``cwd``, bounded."""
        argv = [sys.executable, "-m", "pytest", *args]
        proc = subprocess.run(
            argv,
            cwd=cwd,
            env=PluginHarness.env(env),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=TIMEOUT,
            check=False,
        )
        return Result(
            argv,
            proc.returncode,
            proc.stdout.decode(errors="replace"),
            proc.stderr.decode(errors="replace"),
        )


@pytest.fixture(scope="session")
def ph() -> type[PluginHarness]:
    """The plugin-test harness."""
    return PluginHarness
