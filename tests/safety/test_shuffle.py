"""``hotlap run --shuffle [--seed N]``: a random order (hotlap's own, or pytest-randomly's when
it runs), the seed printed and in the JSON report, and an order-dependent test named with the
test that makes it fail. Real pytest runs of a suite with a planted order-dependent pair."""

from __future__ import annotations

import importlib.util
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from hotlap.export.report import load_schema

PYTEST_INI = "[pytest]\nasyncio_default_fixture_loop_scope = function\n"
NAMES = ["polluter", "victim", "f0", "f1", "f2", "f3", "f4", "f5"]

SUITE = """
import os
from pathlib import Path

def _ran(name):
    with open(Path(__file__).parent / "order.txt", "a") as f:
        f.write(name + "\\n")

def test_polluter():
    _ran("polluter")
    os.environ["HL_ORDER"] = "1"

def test_victim():
    _ran("victim")
    assert "HL_ORDER" not in os.environ
""" + "".join(f"\ndef test_{n}():\n    _ran({n!r})\n" for n in NAMES[2:])

OTHER = "def test_o0(): pass\ndef test_o1(): pass\ndef test_o2(): pass\n"


def _project(tmp_path: Path) -> Path:
    (tmp_path / "pytest.ini").write_text(PYTEST_INI)
    (tmp_path / "test_o.py").write_text(SUITE)
    (tmp_path / "test_other.py").write_text(OTHER)
    return tmp_path


def _env() -> dict[str, str]:
    dropped = ("HOTLAP_", "PYTEST_XDIST_", "PYTEST_ADDOPTS", "PYTEST_CURRENT")
    return {k: v for k, v in os.environ.items() if not k.startswith(dropped)}


def _hotlap(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hotlap", "run", "--headless", "--no-impact", *args],
        cwd=project, env=_env(), capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip


def _seed(order_of: object, polluted: bool) -> int:
    """A seed whose order puts the polluter before the victim (``polluted``) with a test
    before both and one between, or the victim first."""
    for seed in range(1, 200):
        order = order_of(seed)  # type: ignore[operator]
        p, v = order.index("polluter"), order.index("victim")
        if (polluted and 0 < p < v - 1) or (not polluted and v < p):
            return seed
    raise AssertionError("no seed found")


def _hotlap_order(seed: int) -> list[str]:
    """hotlap's own shuffle of test_o.py's tests (all workers collect the same items)."""
    items = [f"test_o.py::test_{n}" for n in NAMES] + [
        f"test_other.py::test_o{i}" for i in range(3)
    ]
    random.Random(seed).shuffle(items)
    return [n.split("::test_")[1] for n in items if n.startswith("test_o.py")]


@pytest.mark.parametrize("workers", [["-n", "0"], ["-n", "2", "--dist", "loadfile"]])
def test_hotlap_shuffle_names_the_order_dependent_pair(tmp_path: Path, workers: list[str]) -> None:
    """Without pytest-randomly: the tests run in the seed's order (seen by the tests
    themselves), the seed is printed and in the JSON report, and the victim that fails after
    the polluter is named with it (and what it left behind); with a seed that runs the victim
    first, nothing fails and nothing is named."""
    project = _project(tmp_path)
    seed = _seed(_hotlap_order, polluted=True)
    proc = _hotlap(project, "--json", "r.json", "--shuffle", "--seed", str(seed),
                   "--", *workers, "-p", "no:randomly")  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"tests shuffled by hotlap, seed {seed}" in proc.stderr
    ran = (project / "order.txt").read_text().split()  # the run's, then the search's reruns
    assert ran[: len(NAMES)] == _hotlap_order(seed)
    # The debug hint runs the test alone and says how to get the order again.
    (hint,) = [line for line in proc.stdout.splitlines() if line.startswith("hotlap: debug ")]
    assert hint.endswith(f"  # the shuffled order again: hotlap run --shuffle --seed {seed}")
    assert (
        f"order-dependent: test_o.py::test_victim fails after test_o.py::test_polluter "
        f"(passes alone; seed {seed}); left behind: env HL_ORDER"
    ) in proc.stdout
    report = json.loads((project / "r.json").read_text())
    jsonschema.validate(report, load_schema())
    assert report["shuffle"] == {"by": "hotlap", "seed": str(seed)}
    assert [(v["victim"], v["polluters"]) for v in report["polluters"]] == [
        ("test_o.py::test_victim", ["test_o.py::test_polluter"])
    ]

    (project / "order.txt").unlink()
    seed = _seed(_hotlap_order, polluted=False)
    proc = _hotlap(project, "--shuffle", "--seed", str(seed), "--", *workers, "-p", "no:randomly")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (project / "order.txt").read_text().split() == _hotlap_order(seed)
    assert f"no test failed in this order (seed {seed})" in proc.stderr
    assert "order-dependent" not in proc.stdout


@pytest.mark.skipif(
    importlib.util.find_spec("pytest_randomly") is None, reason="pytest-randomly not installed"
)
def test_pytest_randomly_shuffles_when_installed(tmp_path: Path) -> None:
    """With pytest-randomly installed and active, --shuffle --seed N is its --randomly-seed=N
    (the order pytest-randomly gives for N, under -n 2), and the pair is found with
    pytest-randomly's reordering off in the reruns."""
    project = _project(tmp_path)

    def randomly_order(seed: int) -> list[str]:
        listed = subprocess.run(
            [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
             f"--randomly-seed={seed}", "test_o.py"],
            cwd=project, env=_env(), capture_output=True, text=True, timeout=60, check=True,
        ).stdout.split()  # fmt: skip
        return [line.split("::test_")[1] for line in listed if "::test_" in line]

    seed = _seed(randomly_order, polluted=True)
    proc = _hotlap(project, "--json", "r.json", "--shuffle", "--seed", str(seed),
                   "--", "-n", "2", "--dist", "loadfile")  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"tests shuffled by pytest-randomly, seed {seed}" in proc.stderr
    ran = (project / "order.txt").read_text().split()
    assert ran[: len(NAMES)] == randomly_order(seed)
    assert (
        f"order-dependent: test_o.py::test_victim fails after test_o.py::test_polluter "
        f"(passes alone; seed {seed})"
    ) in proc.stdout
    report = json.loads((project / "r.json").read_text())
    assert report["shuffle"] == {"by": "pytest-randomly", "seed": str(seed)}


_needs_randomly = pytest.mark.skipif(
    importlib.util.find_spec("pytest_randomly") is None, reason="pytest-randomly not installed"
)


@_needs_randomly
@pytest.mark.parametrize("off", ["autoload", "ini"])
def test_hotlap_shuffles_when_randomly_is_installed_but_not_loaded(
    tmp_path: Path, off: str
) -> None:
    """pytest-randomly installed but not loaded (``PYTEST_DISABLE_PLUGIN_AUTOLOAD=1``, or
    ``-p no:randomly`` in the ini ``addopts``): --shuffle is hotlap's own shuffle, not a
    ``--randomly-seed`` pytest rejects (exit 4 and "no test failed"), and the reruns of the
    search pass no option of a plugin that is not loaded (``-n 0`` without xdist)."""
    project = _project(tmp_path)
    env = _env()
    if off == "autoload":
        env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    else:
        (project / "pytest.ini").write_text(PYTEST_INI + "addopts = -p no:randomly\n")
    seed = _seed(_hotlap_order, polluted=True)
    proc = subprocess.run(
        [sys.executable, "-m", "hotlap", "run", "--headless", "--no-impact", "--shuffle",
         "--seed", str(seed)],
        cwd=project, env=env, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"tests shuffled by hotlap, seed {seed}" in proc.stderr
    assert (project / "order.txt").read_text().split()[: len(NAMES)] == _hotlap_order(seed)
    assert (
        f"order-dependent: test_o.py::test_victim fails after test_o.py::test_polluter "
        f"(passes alone; seed {seed})"
    ) in proc.stdout


@_needs_randomly
def test_randomly_named_with_autoload_off_shuffles(tmp_path: Path) -> None:
    """With plugin autoload off, ``-p randomly`` loads pytest-randomly: --shuffle is its
    seed (the order it gives for the seed), and the pair is still found."""
    project = _project(tmp_path)
    env = {**_env(), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    seed = 0
    for seed in range(1, 200):
        listed = subprocess.run(
            [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "randomly",
             "-p", "no:cacheprovider", f"--randomly-seed={seed}", "test_o.py"],
            cwd=project, env=env, capture_output=True, text=True, timeout=60, check=True,
        ).stdout.split()  # fmt: skip
        order = [line.split("::test_")[1] for line in listed if "::test_" in line]
        if 0 < order.index("polluter") < order.index("victim") - 1:
            break
    proc = subprocess.run(
        [sys.executable, "-m", "hotlap", "run", "--headless", "--no-impact", "--shuffle",
         "--seed", str(seed), "--", "-p", "randomly"],
        cwd=project, env=env, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"tests shuffled by pytest-randomly, seed {seed}" in proc.stderr
    assert (project / "order.txt").read_text().split()[: len(NAMES)] == order
    assert (
        f"order-dependent: test_o.py::test_victim fails after test_o.py::test_polluter "
        f"(passes alone; seed {seed})"
    ) in proc.stdout


NEEDS = """
import os

def test_setup_a(): os.environ["HL_READY"] = "a"
def test_f0(): pass
def test_f1(): pass
def test_setup_b(): os.environ["HL_READY"] = "b"
def test_f2(): pass
def test_needs(): assert "HL_READY" in os.environ
def test_broken(): assert False
def test_f3(): pass
"""


@pytest.mark.parametrize("workers", [["-n", "0"], ["-n", "2", "--dist", "loadfile"]])
def test_a_test_that_needs_another_before_it_is_named_with_it(
    tmp_path: Path, workers: list[str]
) -> None:
    """A test that passes only after one of two others (they set what it reads) fails in a
    shuffled order that runs it before both, and fails alone: it passes in the unshuffled
    order, so it is reported as needing them ("needs A or B to run before it"), with the
    seed and what they left behind, in the line and the JSON report; a test failing in every
    order stays "fails alone"."""
    (tmp_path / "pytest.ini").write_text(PYTEST_INI)
    (tmp_path / "test_n.py").write_text(NEEDS)
    (tmp_path / "test_other.py").write_text(OTHER)
    names = ["setup_a", "f0", "f1", "setup_b", "f2", "needs", "broken", "f3"]
    collected = [f"test_n.py::test_{n}" for n in names]
    collected += [f"test_other.py::test_o{i}" for i in range(3)]
    for seed in range(1, 500):
        items = list(collected)
        random.Random(seed).shuffle(items)
        at = {n: i for i, n in enumerate(items)}
        if at["test_n.py::test_needs"] < min(at["test_n.py::test_setup_a"],
                                              at["test_n.py::test_setup_b"]):  # fmt: skip
            break
    proc = _hotlap(tmp_path, "--json", "r.json", "--shuffle", "--seed", str(seed),
                   "--", *workers, "-p", "no:randomly")  # fmt: skip
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    a, b, victim = "test_n.py::test_setup_a", "test_n.py::test_setup_b", "test_n.py::test_needs"
    assert (
        f"order-dependent: {victim} needs {a} or {b} to run before it (fails alone; "
        f"seed {seed}); left behind: env HL_READY"
    ) in proc.stdout.splitlines(), out
    assert "no polluter: test_n.py::test_broken fails alone (2 runs)" in proc.stdout, out
    report = json.loads((tmp_path / "r.json").read_text())
    jsonschema.validate(report, load_schema())
    verdicts = {v["victim"]: v for v in report["polluters"]}
    assert verdicts[victim]["verdict"] == "needs"
    assert verdicts[victim]["needs"] == [a, b]
    assert verdicts[victim]["sets"] == [[a], [b]]
    assert verdicts[victim]["polluters"] == []
    assert verdicts["test_n.py::test_broken"]["verdict"] == "fails alone"


def test_failures_of_a_shuffled_order_are_not_flaky(tmp_path: Path) -> None:
    """A test that passes in the file's order and fails in a --shuffle order (after the test
    that pollutes it) is order-dependent, not flaky: neither the shuffled run nor the next
    plain one says "flaky" (history compares a shuffled run only with runs in its order);
    its failure is named by the search instead."""
    (tmp_path / "pytest.ini").write_text(PYTEST_INI)
    names = ["victim", "polluter", "f0", "f1", "f2"]
    (tmp_path / "test_f.py").write_text(
        "import os\n"
        'def test_victim(): assert "HL_F" not in os.environ\n'
        'def test_polluter(): os.environ["HL_F"] = "1"\n'
        + "".join(f"def test_{n}(): pass\n" for n in names[2:])
    )
    for seed in range(1, 200):
        items = [f"test_f.py::test_{n}" for n in names]
        random.Random(seed).shuffle(items)
        if items.index("test_f.py::test_polluter") < items.index("test_f.py::test_victim"):
            break
    plain = ["--", "-n", "0", "-p", "no:randomly"]
    assert _hotlap(tmp_path, *plain).returncode == 0
    shuffled = _hotlap(tmp_path, "--shuffle", "--seed", str(seed), *plain)
    assert shuffled.returncode == 1, shuffled.stdout + shuffled.stderr
    assert "order-dependent: test_f.py::test_victim fails after" in shuffled.stdout
    again = _hotlap(tmp_path, *plain)
    assert again.returncode == 0
    for proc in (shuffled, again):
        assert "flaky:" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
