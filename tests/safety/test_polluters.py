"""``hotlap run --find-polluters`` on real suites with planted pollution: real pytest
subprocesses, ``-n 0`` and ``-n 2``."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from hotlap.export.report import load_schema

PYTEST_INI = "[pytest]\nasyncio_default_fixture_loop_scope = function\n"

# In file order (one process under -n 0): p_first is first in v_first's prefix, p_mid in the
# middle of v_mid's, p_last right before v_last; v_pair fails only after p_pair1 AND
# p_pair2; v_alone fails whatever ran before it.
SUITE = """
import os

def test_p_first(): os.environ["HL_A"] = "1"
def test_i1(): pass
def test_i2(): pass
def test_p_pair1(): os.environ["HL_X"] = "1"
def test_p_mid(): os.environ["HL_B"] = "1"
def test_i3(): pass
def test_p_pair2(): os.environ["HL_Y"] = "1"
def test_i4(): pass
def test_v_first(): assert "HL_A" not in os.environ
def test_i5(): pass
def test_v_mid(): assert "HL_B" not in os.environ
def test_i6(): pass
def test_i7(): pass
def test_i8(): pass
def test_i9(): pass
def test_p_last(): os.environ["HL_C"] = "1"
def test_v_last(): assert "HL_C" not in os.environ
def test_v_pair(): assert not ("HL_X" in os.environ and "HL_Y" in os.environ)
def test_v_alone(): assert False
"""


def _hotlap(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    dropped = ("HOTLAP_", "PYTEST_XDIST_", "PYTEST_ADDOPTS", "PYTEST_CURRENT")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    return subprocess.run(
        [sys.executable, "-m", "hotlap", "run", "--headless", "--no-history", "--no-impact",
         "--find-polluters", "--json", "report.json", "--", "-p", "no:randomly", *args],
        cwd=project, env=env, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip


def _project(tmp_path: Path, files: dict[str, str]) -> Path:
    (tmp_path / "pytest.ini").write_text(PYTEST_INI)
    for name, text in files.items():
        (tmp_path / name).write_text(textwrap.dedent(text))
    return tmp_path


def _verdicts(project: Path) -> dict[str, dict[str, Any]]:
    """The report's ``polluters`` by victim name; the report still fits its schema."""
    report = json.loads((project / "report.json").read_text())
    jsonschema.validate(report, load_schema())
    return {v["victim"].split("::")[1]: v for v in report["polluters"]}


def test_polluters_first_middle_last_and_together_one_process(tmp_path: Path) -> None:
    """Under -n 0: the polluter first, in the middle and last in the victim's prefix is named,
    two polluters needed together are both named, a test that fails alone is not called
    polluted; the exit code is pytest's; single polluters within 2*log2(n)+2 runs."""
    project = _project(tmp_path, {"test_s.py": SUITE})
    proc = _hotlap(project, "-n", "0")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    for victim, polluters in (
        ("v_first", "test_s.py::test_p_first"),
        ("v_mid", "test_s.py::test_p_mid"),
        ("v_last", "test_s.py::test_p_last"),
        ("v_pair", "test_s.py::test_p_pair1, test_s.py::test_p_pair2"),
    ):
        line = f"polluted: test_s.py::test_{victim} fails after {polluters} (passes alone)"
        # The hazard the polluter left, as seen in the run.
        env = {"v_first": "HL_A", "v_mid": "HL_B", "v_last": "HL_C"}.get(victim)
        line += f"; left behind: env {env}" if env else "; left behind: env HL_X, env HL_Y"
        assert line in proc.stdout.splitlines(), out
    assert not [
        x for x in proc.stdout.splitlines() if x.startswith("polluted: test_s.py::test_v_alone")
    ]
    assert "no polluter: test_s.py::test_v_alone fails alone (1 run)" in proc.stdout, out
    verdicts = _verdicts(project)
    assert verdicts["test_v_alone"]["verdict"] == "fails alone"
    assert verdicts["test_v_alone"]["polluters"] == []
    for victim in ("test_v_first", "test_v_mid", "test_v_last"):
        v = verdicts[victim]
        assert v["worker"] == "main"
        assert v["runs"] <= 2 * math.log2(v["prefix"]) + 2, v


@pytest.mark.parametrize("dist", ["loadfile"])
def test_polluter_on_the_victims_worker_under_xdist(tmp_path: Path, dist: str) -> None:
    """Under -n 2: the victim's prefix is what its own worker ran before it (each file on
    its own worker here), so the polluter is found there and no test of the other worker is
    named."""
    other = "import os\n" + "".join(f"def test_o{i}(): pass\n" for i in range(6))
    other += 'def test_o_env(): os.environ["HL_A"] = "other"\n'
    mine = (
        "import os\n"
        "def test_m0(): pass\n"
        'def test_m_pollute(): os.environ["HL_M"] = "1"\n'
        "def test_m2(): pass\n"
        "def test_m3(): pass\n"
        'def test_m_victim(): assert "HL_M" not in os.environ\n'
    )
    project = _project(tmp_path, {"test_mine.py": mine, "test_other.py": other})
    proc = _hotlap(project, "-n", "2", "--dist", dist)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    line = "polluted: test_mine.py::test_m_victim fails after test_mine.py::test_m_pollute"
    assert f"{line} (passes alone); left behind: env HL_M" in proc.stdout.splitlines(), out
    verdict = _verdicts(project)["test_m_victim"]
    assert verdict["worker"].startswith("gw")
    assert verdict["prefix"] == 4, verdict


def _either_suite(place: str, var: str) -> str:
    """Nine tests before a victim, two of which (``p1``, ``p2``) each alone make it fail:
    first in its file, in the middle, right before it, or the first test and the last."""
    idle = [f"def test_i{i}(): pass\n" for i in range(7)]
    p1, p2 = (f'def test_{p}(): os.environ["{var}"] = "{p}"\n' for p in ("p1", "p2"))
    body = {
        "first": [p1, p2, *idle],
        "middle": [*idle[:3], p1, p2, *idle[3:]],
        "last": [*idle, p1, p2],
        "spread": [p1, *idle, p2],
    }[place]
    victim = f'def test_victim(): assert "{var}" not in os.environ\n'
    return "import os\n" + "".join(body) + victim


PLACES = {"first": "HL_F", "middle": "HL_M", "last": "HL_L", "spread": "HL_S"}


@pytest.mark.parametrize("workers", [["-n", "0"], ["-n", "2", "--dist", "loadfile"]])
def test_every_polluter_named_when_each_alone_suffices(tmp_path: Path, workers: list[str]) -> None:
    """Two tests before the victim each alone make it fail (they set the same variable):
    both are named, as two sets, wherever they are in the worker's order (first, middle,
    last, first and last), under -n 0 (one process: the files before count too) and -n 2;
    nothing else is named, and the search stays within 2*log2(n)+2 runs per polluter."""
    files = {f"test_{place}.py": _either_suite(place, var) for place, var in PLACES.items()}
    project = _project(tmp_path, files)
    proc = _hotlap(project, *workers)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    report = json.loads((project / "report.json").read_text())
    jsonschema.validate(report, load_schema())
    verdicts = {v["victim"]: v for v in report["polluters"]}
    assert sorted(verdicts) == sorted(f"test_{p}.py::test_victim" for p in PLACES), out
    for place, var in PLACES.items():
        p1, p2 = f"test_{place}.py::test_p1", f"test_{place}.py::test_p2"
        v = verdicts[f"test_{place}.py::test_victim"]
        assert v["verdict"] == "polluted", v
        assert v["polluters"] == [p1, p2], v
        assert v["sets"] == [[p1], [p2]], v
        assert v["links"] == [f"env {var}"], v
        assert v["runs"] <= 2 * (2 * math.log2(v["prefix"]) + 2), v
        line = (f"polluted: test_{place}.py::test_victim fails after {p1} or after {p2} "
                f"(passes alone); left behind: env {var}")  # fmt: skip
        assert line in proc.stdout.splitlines(), out
