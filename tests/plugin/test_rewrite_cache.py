"""Under ``PYTHONDONTWRITEBYTECODE=1`` pytest rewrites every test module in every process of
every run (each xdist worker collects the whole suite). With hotlap part of the run (here
plain pytest with an export) the rewrites are kept in ``.hotlap/pycache``: a first run with
two workers rewrites each module once, a second run none, and what runs is pytest's own
rewrite (the same assertion messages)."""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from compile_counting import counting_conftest
from hotlap.impact import instrument

COUNTING_CONFTEST = counting_conftest("REWRITE_LOG")

MODULES = [f"test_m{i}.py" for i in range(6)]


def suite() -> dict[str, str]:
    files = {"conftest.py": COUNTING_CONFTEST}
    for name in MODULES:
        files[name] = "".join(
            f"def test_{k}():\n    assert [{k}, 1] == [{k}, 1]\n\n" for k in range(4)
        ) + ("def test_fails():\n    value = {'a': 1}\n    assert value == {'a': 2}\n")
    return files


def rewrites(log: Path) -> Counter[str]:
    if not log.exists():
        return Counter()
    counts = Counter(line.split()[1] for line in log.read_text().splitlines())
    return Counter({name: n for name, n in counts.items() if name in MODULES})


def failure_lines(output: str) -> list[str]:
    """The ``E`` lines of every failure, in a stable order."""
    return sorted(line for line in output.splitlines() if line.startswith("E "))


def test_xdist_workers_rewrite_each_test_module_once_then_never(ph: Any, tmp_path: Path) -> None:
    root = ph.write_project(tmp_path / "proj", suite())
    log = tmp_path / "rewrites.log"
    env = {"PYTHONDONTWRITEBYTECODE": "1", "REWRITE_LOG": str(log)}
    args = ("-n", "2", "-p", "hotlap", f"--hotlap-json={tmp_path / 'r.json'}")

    plain = ph.run_pytest(root, "-n", "2", "-p", "no:hotlap", env=env)
    assert plain.code == 1, plain.describe()
    assert rewrites(log) == Counter({name: 2 for name in MODULES})  # each worker's own
    log.unlink()
    (tmp_path / "arrived").rename(tmp_path / "arrived-plain")

    first = ph.run_pytest(root, *args, env=env)
    assert first.code == 1, first.describe()
    assert first.counts == plain.counts == {"passed": 24, "failed": 6}
    assert rewrites(log) == Counter({name: 1 for name in MODULES}), first.describe()
    cached = sorted(p.name for p in (root / ".hotlap" / "pycache").iterdir())
    assert [n.split(".")[0] for n in cached] == sorted(["conftest"] + [m[:-3] for m in MODULES])
    assert (root / ".hotlap" / ".gitignore").read_text().splitlines()[-1] == "*"
    log.unlink()
    (tmp_path / "arrived").rename(tmp_path / "arrived-first")

    second = ph.run_pytest(root, *args, env=env)
    assert second.code == 1, second.describe()
    assert second.counts == plain.counts
    assert rewrites(log) == Counter(), second.describe()
    assert failure_lines(second.stdout) == failure_lines(plain.stdout)
    assert "Differing items:" in second.stdout


def test_an_inert_plugin_keeps_no_cache(ph: Any, tmp_path: Path) -> None:
    """Without the app and without an export the plugin changes nothing: no ``.hotlap``."""
    root = ph.write_project(tmp_path / "proj", suite())
    env = {"PYTHONDONTWRITEBYTECODE": "1", "REWRITE_LOG": str(tmp_path / "log")}
    result = ph.run_pytest(root, "-n", "2", "-p", "hotlap", env=env)
    assert result.code == 1, result.describe()
    assert not (root / ".hotlap").exists()


def test_pytest_may_write_its_own_cache_so_hotlap_keeps_none(ph: Any, tmp_path: Path) -> None:
    root = ph.write_project(tmp_path / "proj", suite())
    env = {"PYTHONDONTWRITEBYTECODE": "", "REWRITE_LOG": str(tmp_path / "log")}
    result = ph.run_pytest(root, "-p", "hotlap", f"--hotlap-json={tmp_path / 'r.json'}", env=env)
    assert result.code == 1, result.describe()
    assert not (root / ".hotlap" / "pycache").exists()
    assert list(root.glob("__pycache__/test_m0.*-pytest-*.pyc"))  # pytest's own


@pytest.fixture
def caching(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    root = tmp_path / "root"
    root.mkdir()
    owner = instrument.cache_rewrites(str(root), str(tmp_path / "cache"))
    assert owner is not None
    try:
        yield root
    finally:
        instrument.stop_caching_rewrites()


def test_only_the_projects_files_are_kept(
    caching: Path, tmp_path: Path, pytestconfig: pytest.Config
) -> None:
    """A test module outside the project (a pytester run's, in a temporary directory) is
    rewritten as pytest does, and nothing is kept for it."""
    from _pytest.assertion import rewrite

    (tmp_path / "cache").mkdir()
    inside = caching / "test_in.py"
    outside = tmp_path / "elsewhere" / "test_out.py"
    outside.parent.mkdir()
    for path in (inside, outside):
        path.write_text("def test_x():\n    assert 1 + 1 == 2\n")
    for path in (inside, outside):
        _, code = rewrite._rewrite_test(path, pytestconfig)
        namespace: dict[str, Any] = {}
        exec(code, namespace)
        namespace["test_x"]()
    kept = [p.name for p in (tmp_path / "cache").iterdir()]
    assert len(kept) == 1 and re.match(r"test_in\.\w+\.\w+\.rw0\.pyc$", kept[0]), kept


def test_markers_take_the_rewrites_over(caching: Path) -> None:
    """Impact markers (3.10/3.11) cache rewrites themselves, with markers: the plain cache
    steps aside when they are installed."""
    from _pytest.assertion import rewrite

    assert isinstance(rewrite._rewrite_test, instrument._RewriteCache)
    marking = instrument.Instrumenter(str(caching), cache_dir=str(caching / "c"))
    marking.install()
    try:
        assert instrument._rewrites_only is None
        assert not isinstance(rewrite._rewrite_test, instrument._RewriteCache)
    finally:
        marking.uninstall()
    assert not isinstance(rewrite._rewrite_test, instrument._RewriteCache)
