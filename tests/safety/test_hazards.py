"""Hazards observed while a real suite runs (``-n 0`` and ``-n 2``), kept in
``.hotlap/safety.json`` and printed by ``hotlap safety [--json]``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from hotlap.export.report import load_schema

PYTEST_INI = "[pytest]\nasyncio_default_fixture_loop_scope = function\n"

SUITE = """
import os, sys

def test_env(): os.environ["HL_LEAK"] = "1"
def test_env_again(): os.environ["HL_LEAK"] = "2"
def test_env_gone(): os.environ.pop("HL_PRESET")
def test_monkeypatched(monkeypatch):
    monkeypatch.setenv("HL_RESTORED", "1")
    monkeypatch.chdir("/")
    monkeypatch.syspath_prepend("/x")
def test_cwd(tmp_path): os.chdir(tmp_path)
def test_path(): sys.path.append("/nowhere")
def test_clean(): pass
"""


def _run(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    dropped = ("HOTLAP_", "PYTEST_XDIST_", "PYTEST_ADDOPTS", "PYTEST_CURRENT")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    env["HL_PRESET"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "hotlap", *args],
        cwd=project, env=env, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip


@pytest.mark.parametrize("workers", ["0", "2"])
def test_hazards_per_test_with_evidence(tmp_path: Path, workers: str) -> None:
    """A variable set, changed or removed and left so, a changed working directory and a
    sys.path entry left behind are each reported on the test that did it, with the variable,
    directory or entry; tests that leave the same variable changed name each other and get
    the serial suggestion; what monkeypatch restores and a clean test are not reported."""
    (tmp_path / "pytest.ini").write_text(PYTEST_INI)
    (tmp_path / "test_h.py").write_text(SUITE)
    proc = _run(tmp_path, "run", "--headless", "--no-impact", "--json", "r.json",
                "--", "-n", workers, "-p", "no:randomly")  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    shown = _run(tmp_path, "safety", "--json")
    assert shown.returncode == 0, shown.stderr
    tests = json.loads(shown.stdout)["tests"]
    found = {
        nodeid.split("::")[1]: {(h["hazard"], h["name"]) for h in hazards}
        for nodeid, hazards in tests.items()
    }
    assert found == {
        "test_env": {("env", "HL_LEAK")},
        "test_env_again": {("env", "HL_LEAK")},
        "test_env_gone": {("env", "HL_PRESET")},
        "test_cwd": {("cwd", "")},
        "test_path": {("sys.path", "/nowhere")},
    }
    after = {n.split("::")[1]: hazards[0]["after"] for n, hazards in tests.items()}
    assert after["test_env"] == "set"
    # Under -n 2 the other test may have run in the other process.
    assert after["test_env_again"] in ({"changed"} if workers == "0" else {"set", "changed"})
    assert after["test_env_gone"] == "unset"
    assert after["test_cwd"].endswith("test_cwd0")
    assert after["test_path"] == "present"
    assert tests["test_h.py::test_env"][0]["shared_with"] == ["test_h.py::test_env_again"]
    report = json.loads((tmp_path / "r.json").read_text())
    jsonschema.validate(report, load_schema())
    in_report = {(h["nodeid"].split("::")[1], h["hazard"], h["name"]) for h in report["hazards"]}
    assert in_report == {(test, *h) for test, hs in found.items() for h in hs}
    text = _run(tmp_path, "safety").stdout
    assert "sets environment variable HL_LEAK and leaves it so" in text
    assert "adds '/nowhere' in sys.path and leaves it" in text
    assert "suggest @pytest.mark.serial" in text and "test_h.py::test_env_again" in text
