"""Tests marked ``serial`` never overlap another test under ``-n 2``: real pytest runs, each
test recording its own start and end on the machine's clock."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PYTEST_INI = "[pytest]\nasyncio_default_fixture_loop_scope = function\n"

SUITE = """
import json, os, time, pytest

LOG = os.path.join(os.path.dirname(__file__), "times.jsonl")

def _rec(name, t0):
    with open(LOG, "a") as f:
        f.write(json.dumps([name, t0, time.time()]) + "\\n")

@pytest.mark.parametrize("i", range(8))
def test_par(i):
    t0 = time.time(); time.sleep(0.03 * (1 + i % 3)); _rec(f"par{i}", t0)

@pytest.mark.MARK
@pytest.mark.parametrize("i", range(3))
def test_ser(i):
    t0 = time.time(); time.sleep(0.05); _rec(f"ser{i}", t0)

def test_par_late():
    t0 = time.time(); time.sleep(0.1); _rec("late", t0)
"""


def _hotlap(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    dropped = ("HOTLAP_", "PYTEST_XDIST_", "PYTEST_ADDOPTS", "PYTEST_CURRENT")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    return subprocess.run(
        [sys.executable, "-m", "hotlap", "run", "--headless", "--no-impact", *args],
        cwd=project, env=env, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip


def _overlaps(project: Path) -> list[tuple[str, str]]:
    rows = [json.loads(line) for line in (project / "times.jsonl").read_text().splitlines()]
    assert len(rows) == 12
    return [
        (a[0], b[0])
        for a in rows
        for b in rows
        if a[0].startswith("ser") and a is not b and a[1] < b[2] and b[1] < a[2]
    ]


@pytest.mark.parametrize("marker", ["serial", "alone"])
def test_serial_tests_run_alone_under_two_workers(tmp_path: Path, marker: str) -> None:
    """Under -n 2, with xdist's scheduler (first run) and hotlap's longest-first one (second
    run, from history): no serial test overlaps any other test, --strict-markers accepts the
    marker, and pytest's report says the serial tests ran alone. A marker other than
    ``serial`` comes from ``[tool.hotlap] serial-marker``."""
    (tmp_path / "pytest.ini").write_text(PYTEST_INI)
    (tmp_path / "test_s.py").write_text(textwrap.dedent(SUITE).replace("MARK", marker))
    if marker != "serial":
        (tmp_path / "pyproject.toml").write_text(f'[tool.hotlap]\nserial-marker = "{marker}"\n')
    for _run in range(2):
        (tmp_path / "times.jsonl").unlink(missing_ok=True)
        proc = _hotlap(tmp_path, "--", "-n", "2", "--strict-markers", "-p", "no:randomly")
        out = proc.stdout + proc.stderr
        assert proc.returncode == 0, out
        assert _overlaps(tmp_path) == [], out
        assert "running 3 serial test(s) alone on gw" in proc.stdout, out
    assert (tmp_path / ".hotlap" / "history.sqlite3").exists()
