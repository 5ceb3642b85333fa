"""xdist's workers share the compiles of a first run: one process compiles a module (with
markers, or rewritten by pytest) into hotlap's cache, and another that needs it meanwhile
compiles the modules beside it, then loads the first one's cache file."""

from __future__ import annotations

import marshal
import os
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from impact_helpers import Project

from compile_counting import counting_conftest
from hotlap.impact import instrument as ins

pytestmark = pytest.mark.skipif(
    sys.version_info >= (3, 12), reason="markers are compiled on 3.10/3.11"
)


@pytest.fixture(autouse=True)
def published() -> Iterator[None]:
    ins.publish()
    yield
    ins.publish(False)


@pytest.fixture
def live_pid() -> Iterator[int]:
    """A process that stays alive while the test runs (the owner of a claim)."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield proc.pid
    proc.kill()
    proc.wait()


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def package(root: Path, names: list[str]) -> dict[str, Path]:
    files = {}
    for name in names:
        path = root / "pkg" / f"{name}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"def {name}():\n    return {name!r}\n")
        files[name] = path
    return files


def claim_for(owner: ins.Instrumenter, path: Path, pid: int) -> Path:
    cache = owner._cache_path(str(path))
    assert cache is not None
    lock = Path(cache + ".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.write_text(str(pid))
    return lock


def run(code: object) -> dict[str, object]:
    namespace: dict[str, object] = {}
    exec(code, namespace)  # type: ignore[call-overload]
    return namespace


def test_a_module_another_process_compiles_is_loaded_from_its_cache_file(
    tmp_path: Path, live_pid: int
) -> None:
    """While the claim's owner compiles ``a``, ``load`` compiles ``b`` and ``c`` (beside it)
    into the cache, then runs what the owner wrote for ``a``, not a compile of its own."""
    files = package(tmp_path, ["a", "b", "c"])
    owner = ins.Instrumenter(str(tmp_path), cache_dir=str(tmp_path / "cache"))
    lock = claim_for(owner, files["a"], live_pid)
    helped = [owner._cache_path(str(files[n])) for n in ("b", "c")]

    def other_process() -> None:
        # Finish "a" once the waiting loader has compiled both neighbours (or gave up).
        for _ in range(2000):
            if all(p is not None and os.path.exists(p) for p in helped):
                break
            threading.Event().wait(0.005)
        source = files["a"].read_bytes()
        theirs = compile("def a():\n    return 'theirs'\n", str(files["a"]), "exec")
        cache = owner._cache_path(str(files["a"]))
        assert cache is not None
        Path(cache).write_bytes(ins._header(source) + b"1" + marshal.dumps(theirs))
        lock.unlink()

    thread = threading.Thread(target=other_process)
    thread.start()
    code = owner.load(str(files["a"]))
    thread.join()
    assert run(code)["a"]() == "theirs"  # type: ignore[operator]
    assert all(p is not None and os.path.exists(p) for p in helped)
    assert not list((tmp_path / "cache").glob("*.lock"))
    # What the waiting process compiled for the neighbours is what their import loads.
    assert run(owner.load(str(files["b"])))["b"]() == "b"  # type: ignore[operator]
    assert str(files["b"]) in owner.marked


def test_a_claim_whose_process_is_gone_is_taken_over(tmp_path: Path) -> None:
    files = package(tmp_path, ["a"])
    owner = ins.Instrumenter(str(tmp_path), cache_dir=str(tmp_path / "cache"))
    lock = claim_for(owner, files["a"], dead_pid())
    assert run(owner.load(str(files["a"])))["a"]() == "a"  # type: ignore[operator]
    assert not lock.exists()
    assert owner._cache_path(str(files["a"])) is not None
    assert os.path.exists(owner._cache_path(str(files["a"])))  # type: ignore[arg-type]


def test_a_claim_never_released_is_waited_for_a_bounded_time(
    tmp_path: Path, live_pid: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A live process that never finishes (stopped, or slow beyond reason): the module is
    compiled here after :data:`SHARE_WAIT`, and the other's claim is left to it."""
    monkeypatch.setattr(ins, "SHARE_WAIT", 0.2)
    files = package(tmp_path, ["a"])
    owner = ins.Instrumenter(str(tmp_path), cache_dir=str(tmp_path / "cache"))
    lock = claim_for(owner, files["a"], live_pid)
    assert run(owner.load(str(files["a"])))["a"]() == "a"  # type: ignore[operator]
    assert lock.read_text() == str(live_pid)


def test_a_module_that_does_not_compile_is_left_to_its_importer(tmp_path: Path) -> None:
    """A neighbour with a syntax error is not cached by the helper: the process that imports
    it compiles it and gets Python's own error."""
    package(tmp_path, ["a"])
    broken = tmp_path / "pkg" / "b.py"
    broken.write_text("def b(:\n")
    owner = ins.Instrumenter(str(tmp_path), cache_dir=str(tmp_path / "cache"))
    assert owner._prepare(str(broken))  # claimed and tried
    assert not list((tmp_path / "cache").glob("b.*.pyc"))
    assert not list((tmp_path / "cache").glob("*.lock"))
    assert owner.load(str(broken)) is None  # compiled as written by the caller: its error


def test_a_module_whose_compile_warns_is_left_to_its_importer(tmp_path: Path) -> None:
    """An invalid escape sequence warns as the module is compiled: the helper caches
    nothing, and the process that imports the module compiles it and warns, as without
    hotlap."""
    noisy = tmp_path / "pkg" / "b.py"
    noisy.parent.mkdir()
    noisy.write_text('def b():\n    return "\\d"\n')
    owner = ins.Instrumenter(str(tmp_path), cache_dir=str(tmp_path / "cache"))
    assert owner._prepare(str(noisy))
    assert not list((tmp_path / "cache").glob("b.*.pyc"))
    with pytest.warns((DeprecationWarning, SyntaxWarning), match="invalid escape"):
        code = owner.load(str(noisy))
    assert run(code)["b"]() == "\\d"  # type: ignore[operator]


COUNTING_CONFTEST = counting_conftest("COMPILE_LOG", marked=True)


def test_a_first_run_with_two_workers_compiles_each_module_once(tmp_path: Path) -> None:
    """Both workers import every module; each project module and test module is compiled
    (marked, or rewritten and marked) by one of them, and both run all the tests."""
    proj = Project(tmp_path / "proj")
    proj.write("pyproject.toml", '[tool.pytest.ini_options]\npythonpath = ["src"]\n')
    proj.write("src/pkg/__init__.py", "")
    names = [f"m{i}" for i in range(8)]
    for name in names:
        body = "".join(f"def {name}_{k}(x):\n    return x + {k}\n\n" for k in range(300))
        proj.write(f"src/pkg/{name}.py", body)
        proj.write(
            f"tests/test_{name}.py",
            f"from pkg.{name} import {name}_1\n\n"
            + "".join(
                f"def test_{k}():\n    assert {name}_1({k}) == {k + 1}\n\n" for k in range(5)
            ),
        )
    proj.write("tests/conftest.py", COUNTING_CONFTEST)
    log = tmp_path / "compiles.log"
    proj.env = {"PYTHONDONTWRITEBYTECODE": "1", "COMPILE_LOG": str(log)}
    proc = proj.run("--", "-n", "2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "40 passed" in proc.stdout
    lines = [line.split() for line in log.read_text().splitlines()]
    counts = Counter(name for _, name in lines)
    expected = {f"{n}.py" for n in names} | {f"test_{n}.py" for n in names}
    assert expected <= set(counts)
    assert {name: counts[name] for name in expected} == {name: 1 for name in expected}
    assert len({pid for pid, _ in lines}) >= 1
    assert not list((proj.root / ".hotlap" / "pycache").glob("*.lock"))
