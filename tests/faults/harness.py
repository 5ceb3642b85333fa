"""Running hostile suites for real: temp projects, plain pytest vs hotlap, leftover processes.

Loaded by ``tests/faults/conftest.py`` and ``tests/compat/conftest.py`` (as the ``hx``
fixture), so both directories compare hotlap with pytest the same way.

Every child process gets an environment without the outer run's ``HOTLAP_*``/``PYTEST_*``
variables (the outer run may itself be driven by hotlap) plus a per-test marker,
:data:`MARK`: every process the suite starts inherits it, so after the run
:func:`leftovers` finds any process that outlived it, whoever its parent is now.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

#: Seconds any child process may take before the test fails instead of hanging.
TIMEOUT = 90
#: Environment variable that tags every process started for one test.
MARK = "FAULTS_SUITE_MARK"
#: pytest-asyncio's warning silenced; nothing else of the outer configuration applies.
PYTEST_INI = "[pytest]\nasyncio_default_fixture_loop_scope = function\n"

_DROP = {
    "PYTEST_ADDOPTS",
    "PYTEST_CURRENT_TEST",
    "PYTEST_PLUGINS",
    "PYTEST_DISABLE_PLUGIN_AUTOLOAD",
}
_SUMMARY = re.compile(r"^=*\s*(?P<body>(?:no tests ran|\d+ \w+).*?) in [\d.]+s\b")
_PAIR = re.compile(r"(\d+) ([a-z]+)")


@dataclass
class Result:
    """A finished child process."""

    args: list[str]
    code: int
    stdout: str
    stderr: str
    seconds: float
    report: dict[str, Any] = field(default_factory=dict)

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def describe(self) -> str:
        """Everything needed to understand a failed assertion about this run."""
        return (
            f"$ {' '.join(self.args)}\n-> {self.code} in {self.seconds:.1f}s\n"
            f"{self.stdout[-6000:]}\n--- stderr ---\n{self.stderr[-3000:]}"
        )

    @property
    def counts(self) -> dict[str, int]:
        """The counts of pytest's own final summary line in this run's output."""
        line = summary_line(self.stdout)
        assert line is not None, f"no summary line\n{self.describe()}"
        return parse_counts(line)

    def test(self, nodeid: str) -> dict[str, Any]:
        """The report's entry for ``nodeid``."""
        for entry in self.report.get("tests", []):
            if entry["nodeid"] == nodeid:
                return dict(entry)
        raise AssertionError(f"{nodeid} not in the report\n{self.describe()}")


def new_mark() -> str:
    """A fresh marker value for one test's processes."""
    return uuid.uuid4().hex


def clean_env(mark: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """``os.environ`` without the outer run's hotlap/pytest variables, tagged with ``mark``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("HOTLAP_", "PYTEST_XDIST_", "COV_CORE_")) and k not in _DROP
    }
    env["PYTHONUNBUFFERED"] = "1"
    env[MARK] = mark
    env.update(extra or {})
    return env


def write_project(root: Path, files: Mapping[str, str | bytes], ini: str = PYTEST_INI) -> Path:
    """A temp project: its own pytest.ini and ``files`` (text is dedented)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "pytest.ini").write_text(ini)
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(textwrap.dedent(content))
    return root


def run(
    args: list[str],
    cwd: Path,
    mark: str,
    env: Mapping[str, str] | None = None,
    timeout: float = TIMEOUT,
) -> Result:
    """Run ``args`` to the end (bounded) and keep its output."""
    start = time.monotonic()
    proc = subprocess.run(
        args,
        cwd=cwd,
        env=clean_env(mark, env),
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
        time.monotonic() - start,
    )


def _order(args: tuple[str, ...]) -> tuple[str, ...]:
    """``args`` with pytest-randomly off unless the test asks for it: a shuffled order would
    make ``-x`` and ``--maxfail`` stop at different tests in the two runs compared."""
    if any("randomly" in arg for arg in args):
        return args
    return ("-p", "no:randomly", *args)


def run_pytest(
    project: Path, mark: str, *args: str, env: Mapping[str, str] | None = None
) -> Result:
    """Plain ``python -m pytest -q ARGS``."""
    return run([sys.executable, "-m", "pytest", "-q", *_order(args)], project, mark, env)


def run_plugin(
    project: Path, mark: str, *args: str, env: Mapping[str, str] | None = None
) -> Result:
    """``python -m pytest -q --hotlap-json=… ARGS``: hotlap's plugin without the app."""
    path = project / "hotlap-report.json"
    path.unlink(missing_ok=True)
    result = run_pytest(project, mark, f"--hotlap-json={path}", *args, env=env)
    assert path.exists(), f"no report written\n{result.describe()}"
    result.report = load_report(path)
    return result


def run_hotlap(
    project: Path,
    mark: str,
    *pytest_args: str,
    options: tuple[str, ...] = (),
    env: Mapping[str, str] | None = None,
) -> Result:
    """``python -m hotlap run --headless --json … [options] -- PYTEST_ARGS``."""
    path = project / "hotlap-run.json"
    path.unlink(missing_ok=True)
    args = [sys.executable, "-m", "hotlap", "run", "--headless", "--json", str(path)]
    result = run([*args, *options, "--", *_order(pytest_args)], project, mark, env)
    if path.exists():
        result.report = load_report(path)
    return result


def load_report(path: Path) -> dict[str, Any]:
    """A JSON report read strictly: ASCII only (so valid whatever the tests printed)."""
    raw = path.read_bytes()
    raw.decode("ascii")  # raises if the export let a raw byte through
    report: dict[str, Any] = json.loads(raw)
    return report


def summary_line(output: str) -> str | None:
    """The last line of ``output`` that is pytest's final summary (without the ``=`` rule)."""
    found = None
    for line in output.splitlines():
        match = _SUMMARY.match(line.strip())
        if match:
            found = match.group("body")
    return found


def parse_counts(summary: str) -> dict[str, int]:
    """``{"failed": 1, "passed": 2, "error": 1}`` from pytest's summary words (no warnings)."""
    counts: dict[str, int] = {}
    for number, word in _PAIR.findall(summary):
        if word in ("warning", "warnings"):
            continue
        word = {"errors": "error"}.get(word, word)
        counts[word] = counts.get(word, 0) + int(number)
    return counts


def leftovers(mark: str, settle: float = 3.0) -> list[str]:
    """Live processes (not zombies) tagged with ``mark``, after up to ``settle`` seconds."""
    deadline = time.monotonic() + settle
    while True:
        found = []
        for proc in psutil.process_iter():
            try:
                if proc.environ().get(MARK) != mark:
                    continue
                if proc.status() == psutil.STATUS_ZOMBIE:
                    continue
                found.append(f"{proc.pid} {' '.join(proc.cmdline())[:150]}")
            except psutil.Error:
                continue
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def kill_marked(mark: str) -> None:
    """End whatever a failed test left behind, so one failure does not load the machine."""
    for proc in psutil.process_iter():
        try:
            if proc.environ().get(MARK) == mark:
                proc.kill()
        except psutil.Error:
            continue


class Kit:
    """One test's view of the harness: its project directory and its process marker."""

    def __init__(self, tmp_path: Path) -> None:
        self.mark = new_mark()
        self.tmp_path = tmp_path

    def project(self, files: Mapping[str, str | bytes], name: str = "proj", **kw: Any) -> Path:
        """Write a project under the test's tmp_path."""
        return write_project(self.tmp_path / name, files, **kw)

    def pytest(self, project: Path, *args: str, env: Mapping[str, str] | None = None) -> Result:
        return run_pytest(project, self.mark, *args, env=env)

    def plugin(self, project: Path, *args: str, env: Mapping[str, str] | None = None) -> Result:
        return run_plugin(project, self.mark, *args, env=env)

    def hotlap(
        self,
        project: Path,
        *pytest_args: str,
        options: tuple[str, ...] = (),
        env: Mapping[str, str] | None = None,
    ) -> Result:
        return run_hotlap(project, self.mark, *pytest_args, options=options, env=env)

    def leftovers(self, settle: float = 3.0) -> list[str]:
        return leftovers(self.mark, settle)

    def cleanup(self) -> None:
        kill_marked(self.mark)
