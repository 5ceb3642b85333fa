"""Shared harness of the run-engine integration tests: temp projects and real subprocesses.

Every test here runs real ``pytest`` and ``hotlap`` processes on a tiny suite written into
``tmp_path``. The outer test run may itself be an xdist worker driven by hotlap, so the child
processes get an environment without the outer run's ``HOTLAP_*``/``PYTEST_*`` variables, and
each temp project has its own ``pytest.ini`` so the outer configuration does not apply.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

#: Seconds any child process may take before the test fails instead of hanging.
TIMEOUT = 60

#: The temp projects' pytest.ini: an empty config, so the outer project's does not apply.
PYTEST_INI = "[pytest]\n"

#: "Fast" runs load only xdist and hotlap: the other installed plugins (asyncio and split from
#: the test extras; cov, timeout, rerunfailures in a dev venv) cost up to ~0.45 s of CPU per
#: process, which would dominate these tests.
#: Plain pytest and hotlap get the same environment and arguments, so they still compare.
FAST_ENV = {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
FAST_ARGS = ("-p", "xdist.plugin")

_DROP_EXACT = {
    "PYTEST_ADDOPTS",
    "PYTEST_CURRENT_TEST",
    "PYTEST_PLUGINS",
    "PYTEST_DISABLE_PLUGIN_AUTOLOAD",
}
_SUMMARY = re.compile(r"^=*\s*(?P<body>(?:no tests ran|\d+ \w+).*?) in [\d.]+s\b")
_PAIR = re.compile(r"(\d+) ([a-z]+)")


def clean_env(extra: Mapping[str, str | None] | None = None) -> dict[str, str]:
    """``os.environ`` without the outer run's hotlap and xdist variables, plus ``extra``
    (a variable given as None is left out)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("HOTLAP_", "PYTEST_XDIST_")) and k not in _DROP_EXACT
    }
    env["PYTHONUNBUFFERED"] = "1"
    for name, value in (extra or {}).items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def write_project(root: Path, files: Mapping[str, str]) -> Path:
    """Write a temp project: its own pytest.ini and ``files`` (dedented)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "pytest.ini").write_text(PYTEST_INI)
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


@dataclass
class Result:
    """A finished child process."""

    args: list[str]
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def describe(self) -> str:
        """Everything needed to understand a failed assertion about this run."""
        return (
            f"$ {' '.join(self.args)}\n-> {self.code}\n{self.stdout}\n--- stderr ---\n{self.stderr}"
        )


def run(
    args: list[str],
    cwd: Path,
    env: Mapping[str, str | None] | None = None,
    timeout: float = TIMEOUT,
) -> Result:
    """Run ``args`` to the end (bounded) and keep its output."""
    proc = subprocess.run(
        args,
        cwd=cwd,
        env=clean_env(env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    return Result(
        args,
        proc.returncode,
        proc.stdout.decode("utf-8", "replace"),
        proc.stderr.decode("utf-8", "replace"),
    )


def run_pytest(
    cwd: Path, *args: str, env: Mapping[str, str | None] | None = None, fast: bool = True
) -> Result:
    """Plain ``python -m pytest ARGS`` in ``cwd`` (``fast``: only xdist is loaded)."""
    if fast:
        return run(
            [sys.executable, "-m", "pytest", *FAST_ARGS, *args], cwd, {**FAST_ENV, **(env or {})}
        )
    return run([sys.executable, "-m", "pytest", *args], cwd, env)


def run_hotlap(
    cwd: Path, *args: str, env: Mapping[str, str | None] | None = None, fast: bool = True
) -> Result:
    """``python -m hotlap ARGS`` in ``cwd`` (pass ``run --headless …`` yourself).

    ``fast`` needs a ``--`` in ``args``: xdist is named right after it, as plain pytest gets it.
    """
    argv = list(args)
    if fast:
        i = argv.index("--")
        argv[i + 1 : i + 1] = FAST_ARGS
        env = {**FAST_ENV, **(env or {})}
    return run([sys.executable, "-m", "hotlap", *argv], cwd, env)


def summary_line(output: str) -> str | None:
    """The last line of ``output`` that is pytest's final summary (without the ``=`` rule)."""
    found = None
    for line in output.splitlines():
        match = _SUMMARY.match(line.strip())
        if match:
            found = match.group("body")
    return found


def parse_counts(summary: str) -> dict[str, int]:
    """``{"failed": 1, "passed": 2, "error": 1}`` from pytest's summary words.

    pytest says "1 error" / "2 errors"; warnings are not test outcomes and are left out.
    """
    counts: dict[str, int] = {}
    for number, word in _PAIR.findall(summary):
        if word in ("warning", "warnings"):
            continue
        word = {"errors": "error"}.get(word, word)
        counts[word] = counts.get(word, 0) + int(number)
    return counts


def counts_of(result: Result) -> dict[str, int]:
    """The counts of a run's own summary line; fails the test if there is none."""
    line = summary_line(result.stdout)
    assert line is not None, f"no summary line\n{result.describe()}"
    return parse_counts(line)


def load_json(path: Path) -> Any:
    """Read a JSON file (the report or durations) the way a consumer would."""
    return json.loads(path.read_text(encoding="utf-8"))


def hotlap_args(
    report: Path, workers: str, *pytest_args: str, extra: tuple[str, ...] = ()
) -> list[str]:
    """``run --headless --json REPORT [extra] -- -n WORKERS PYTEST_ARGS``."""
    return ["run", "--headless", "--json", str(report), *extra, "--", "-n", workers, *pytest_args]


class Harness:
    """The helpers above, handed to tests as one fixture (conftest modules are not imported)."""

    FAST_ENV = FAST_ENV
    FAST_ARGS = FAST_ARGS
    run = staticmethod(run)
    run_pytest = staticmethod(run_pytest)
    run_hotlap = staticmethod(run_hotlap)
    write_project = staticmethod(write_project)
    clean_env = staticmethod(clean_env)
    summary_line = staticmethod(summary_line)
    parse_counts = staticmethod(parse_counts)
    counts_of = staticmethod(counts_of)
    load_json = staticmethod(load_json)
    hotlap_args = staticmethod(hotlap_args)


@pytest.fixture(scope="session")
def h() -> type[Harness]:
    """The run-engine test harness."""
    return Harness
