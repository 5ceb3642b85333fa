"""The pre-started pytest (``hotlap.watch.spare``): real interpreters, real pytest runs."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import psutil
from watch_helpers import clean_env, write

from hotlap.watch.spare import CHILD, SparePytest

# Writes what a test can observe of its process to $HOTLAP_PROBE_OUT.
PROBE_CONFTEST = """
import json, os, sys, __main__

def pytest_sessionstart(session):
    try:
        import probe_mod
        value = probe_mod.VALUE
    except ImportError:
        value = None
    facts = {
        "argv": sys.argv,
        "path0": sys.path[0],
        "main": getattr(__main__, "__file__", None),
        "stdin_null": os.path.samestat(os.fstat(0), os.stat(os.devnull)),
        "cwd": os.getcwd(),
        "leader": os.getpgid(0) == os.getpid(),
        "probe": os.environ.get("HOTLAP_PROBE"),
        "gone": os.environ.get("HOTLAP_GONE"),
        "value": value,
        "warm": any("spare_child" in a for a in sys.orig_argv),
        "modules": sorted(sys.modules),
        "main_names": sorted(vars(__main__)),
    }
    with open(os.environ["HOTLAP_PROBE_OUT"], "w") as f:
        json.dump(facts, f)
"""


def _project(root: Path) -> None:
    write(root, "conftest.py", PROBE_CONFTEST)
    write(root, "test_it.py", "def test_one():\n    assert 1 + 1 == 2\n")


def _command() -> list[str]:
    return [sys.executable, "-m", "pytest", "-p", "hotlap", "-q", "-p", "no:doctest"]


def _finish(proc: subprocess.Popen[bytes]) -> tuple[int, str]:
    out, _ = proc.communicate(timeout=60)
    return proc.returncode, out.decode()


def _cold(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, str]:
    """The command started the way RunSession starts it."""
    proc = subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return _finish(proc)


def _old(path: Path) -> None:
    """Date ``path`` two seconds back (files newer than the spare are never trusted)."""
    then = time.time() - 2
    os.utime(path, (then, then))


def _spare_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = clean_env()
    env.update(extra)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def test_spare_runs_the_command_as_a_cold_start_would(tmp_path: Path) -> None:
    """Same exit code, summary, argv, sys.path[0], __main__, stdin, cwd, process group and
    HOTLAP_* environment (set and removed) as the plain command; no assertion-rewrite
    warnings; and the run really was the pre-started interpreter."""
    proj = tmp_path / "proj"
    _project(proj)
    base = _spare_env(tmp_path, HOTLAP_GONE="1")
    spare = SparePytest(proj, base, pytest_args=_command()[3:])
    spare.launch()
    try:
        run_env = {k: v for k, v in base.items() if k != "HOTLAP_GONE"}
        cold_env = dict(run_env, HOTLAP_PROBE="x", HOTLAP_PROBE_OUT=str(tmp_path / "cold.json"))
        cold_code, cold_out = _cold(_command(), proj, cold_env)
        warm_env = dict(cold_env, HOTLAP_PROBE_OUT=str(tmp_path / "warm.json"))
        proc = spare.take(_command(), proj, warm_env)
        assert proc is not None
        warm_code, warm_out = _finish(proc)
    finally:
        spare.close()
    cold = json.loads((tmp_path / "cold.json").read_text())
    warm = json.loads((tmp_path / "warm.json").read_text())
    assert (cold.pop("warm"), warm.pop("warm")) == (False, True)
    # The spare imported pytest's builtin plugins, not the blocked one (nor anything else
    # but its own few stdlib modules).
    extra = set(warm.pop("modules")) - set(cold.pop("modules"))
    assert "_pytest.doctest" not in extra
    assert not {m for m in extra if not m.startswith(("json", "importlib"))}, extra
    assert warm == cold
    assert cold["probe"] == "x" and cold["gone"] is None and cold["stdin_null"]
    assert cold["argv"][0].endswith(os.path.join("pytest", "__main__.py"))
    assert (warm_code, cold_code) == (0, 0)
    assert warm_out.splitlines()[-1].startswith("1 passed")
    assert re.sub(r"[\d.]+s", "", warm_out) == re.sub(r"[\d.]+s", "", cold_out)
    assert "rewrite" not in warm_out.lower(), warm_out
    assert spare.used == 1


def test_a_changed_preloaded_module_means_a_cold_start(tmp_path: Path) -> None:
    """A module the spare imported that changes afterwards is imported afresh: the spare
    execs the plain command (the run sees the new code); unchanged, the spare runs warm."""
    proj = tmp_path / "proj"
    _project(proj)
    lib = tmp_path / "lib"
    probe = write(lib, "probe_mod.py", "VALUE = 'old'\n")
    _old(probe)
    env = _spare_env(tmp_path, PYTHONPATH=str(lib))
    spare = SparePytest(proj, env, pytest_args=_command()[3:], preload=["probe_mod"])
    try:
        spare.launch()
        out = tmp_path / "unchanged.json"
        proc = spare.take(_command(), proj, dict(env, HOTLAP_PROBE_OUT=str(out)))
        assert proc is not None and _finish(proc)[0] == 0
        facts = json.loads(out.read_text())
        assert (facts["warm"], facts["value"]) == (True, "old")

        spare.launch()
        time.sleep(1.0)  # let it import probe_mod before the change
        probe.write_text("VALUE = 'new'\n")
        out = tmp_path / "changed.json"
        proc = spare.take(_command(), proj, dict(env, HOTLAP_PROBE_OUT=str(out)))
        assert proc is not None and _finish(proc)[0] == 0
        facts = json.loads(out.read_text())
        assert (facts["warm"], facts["value"]) == (False, "new")
    finally:
        spare.close()


def test_a_new_file_shadowing_a_module_means_a_cold_start(tmp_path: Path) -> None:
    """A file created in the working directory (first on sys.path) after the spare imported
    a module of that name wins in a cold start, so the spare starts cold."""
    proj = tmp_path / "proj"
    _project(proj)
    lib = tmp_path / "lib"
    _old(write(lib, "probe_mod.py", "VALUE = 'library'\n"))
    env = _spare_env(tmp_path, PYTHONPATH=str(lib))
    spare = SparePytest(proj, env, pytest_args=_command()[3:], preload=["probe_mod"])
    try:
        spare.launch()
        time.sleep(1.0)
        write(proj, "probe_mod.py", "VALUE = 'shadow'\n")
        out = tmp_path / "facts.json"
        proc = spare.take(_command(), proj, dict(env, HOTLAP_PROBE_OUT=str(out)))
        assert proc is not None and _finish(proc)[0] == 0
        facts = json.loads(out.read_text())
        assert (facts["warm"], facts["value"]) == (False, "shadow")
    finally:
        spare.close()


def test_spare_refuses_what_it_cannot_run_exactly(tmp_path: Path) -> None:
    """Another environment (outside HOTLAP_*), directory, program or set of blocked
    plugins: no spare is handed out, and the unusable one is stopped."""
    proj = tmp_path / "proj"
    _project(proj)
    env = _spare_env(tmp_path)
    spare = SparePytest(proj, env, pytest_args=_command()[3:])
    try:
        for command, cwd, run_env in (
            (_command(), proj, dict(env, OTHER="1")),
            (_command(), tmp_path, env),
            (["pytest", *_command()[3:]], proj, env),
            ([*_command(), "-p", "no:pastebin"], proj, env),  # blocks another builtin
        ):
            spare.launch()
            proc = spare.proc
            assert proc is not None
            assert spare.take(command, cwd, run_env) is None
            assert proc.poll() is not None
        assert spare.take(_command(), proj, dict(env, HOTLAP_ANY="1")) is None  # none left
        assert (spare.used, spare.missed) == (0, 5)
    finally:
        spare.close()


def test_an_unused_spare_goes_away(tmp_path: Path) -> None:
    """close() stops the spare; a spare whose watcher died (stdin closed) exits by itself."""
    env = _spare_env(tmp_path)
    spare = SparePytest(tmp_path, env)
    spare.launch()
    proc = spare.proc
    assert proc is not None
    spare.close()
    assert proc.poll() is not None and spare.proc is None

    orphan = subprocess.Popen(
        [sys.executable, CHILD, str(time.time_ns())],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    out, _ = orphan.communicate(b"", timeout=30)  # closes its stdin
    assert orphan.returncode == 0 and out == b""
    assert not psutil.pid_exists(orphan.pid) or psutil.Process(orphan.pid).status() == "zombie"
