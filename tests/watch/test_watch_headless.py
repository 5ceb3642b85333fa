"""``hotlap watch --headless`` end to end: real watcher, real pytest runs."""

from __future__ import annotations

import os
import time
from pathlib import Path

import psutil
from watch_helpers import Watch


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_save_reruns_only_the_affected_test(root: Path, watch: Watch) -> None:
    """A save that breaks ``sub`` prints the changed file, "1 selected (…sub changed)",
    the failure and pytest's summary line."""
    _edit(root / "src/calc.py", "return a - b", "return a - b - 1")
    lines = watch.until_idle()
    text = "\n".join(lines)
    assert "changed: src/calc.py" in text
    assert "1 selected (src/calc.py::sub changed)" in text
    assert "FAILED tests/test_calc.py::test_sub" in text
    assert any(line.startswith("1 failed in ") for line in lines)


def test_failed_test_reruns_first_until_fixed(root: Path, watch: Watch) -> None:
    """After a failure, the next save reruns the failed test along with the affected one."""
    _edit(root / "src/calc.py", "return a - b", "return a - b - 1")
    watch.until_idle()
    _edit(root / "src/calc.py", "return a + b", "return b + a")
    text = "\n".join(watch.until_idle())
    assert "2 selected" in text
    assert "1 failed, 1 passed" in text
    _edit(root / "src/calc.py", "return a - b - 1", "return a - b")
    lines = watch.until_idle()
    assert any(line.startswith("1 passed in ") for line in lines)
    assert not any(line.startswith("FAILED") for line in lines)


def test_comment_only_save_runs_nothing(root: Path, watch: Watch) -> None:
    """A comment edit is seen but selects no test."""
    _edit(root / "src/calc.py", "def sub", "# a comment\ndef sub")
    text = "\n".join(watch.until_idle())
    assert "changed: src/calc.py" in text
    assert "0 selected" in text


def test_atomic_save_and_swap_files(root: Path, watch: Watch) -> None:
    """An editor's atomic save (write a temp file, rename over) counts as a change of the
    real file; swap and backup files alone trigger nothing."""
    (root / "src/.calc.py.swp").write_text("swap")
    (root / "src/calc.py~").write_text("backup")
    (root / "ignored_dir").mkdir()
    (root / "ignored_dir/x.txt").write_text("git-ignored")
    tmp = root / "src/calc.py.tmp.1234"
    tmp.write_text((root / "src/calc.py").read_text().replace("return a + b", "return a + b + 1"))
    os.replace(tmp, root / "src/calc.py")
    text = "\n".join(watch.until_idle())
    assert "changed: src/calc.py" in text.splitlines()[0]
    assert ".swp" not in text and "~" not in text and "ignored_dir" not in text
    assert "FAILED tests/test_calc.py::test_add" in text


def test_change_during_a_run_is_queued_not_dropped(root: Path) -> None:
    """A save while tests run is picked up by the next cycle (default: no interrupt)."""
    (root / "tests/test_slow.py").write_text(
        "import time\nfrom calc import add\n\n"
        "def test_slow():\n    time.sleep(1.5)\n    assert add(0, 0) == 0\n"
    )
    watch = Watch(root)
    try:
        watch.wait_for("selected")  # the initial run: the new file
        time.sleep(0.5)  # the slow test is running now
        _edit(root / "src/calc.py", "return a - b", "return a - b - 1")
        watch.until_idle()  # initial run ends
        text = "\n".join(watch.until_idle())
        assert "changed: src/calc.py" in text
        assert "FAILED tests/test_calc.py::test_sub" in text
    finally:
        watch.stop()


def test_interrupt_restarts_with_the_union_of_changes(root: Path) -> None:
    """--interrupt: a save during a run cancels it; the restart covers both changes."""
    (root / "tests/test_slow.py").write_text(
        "import time\nfrom calc import add\n\n"
        "def test_slow():\n    assert add(0, 0) == 0\n    time.sleep(3)\n"
    )
    watch = Watch(root, "--interrupt")
    try:
        watch.wait_for("selected")
        time.sleep(0.8)
        _edit(root / "src/calc.py", "return a - b", "return a - b - 1")
        watch.wait_for("run cancelled by a new change", timeout=20)
        watch.wait_for("changed: .*src/calc.py", timeout=20)
        text = "\n".join(watch.until_idle(timeout=30))
        # The restart runs the cancelled selection (the new test file) and the new change.
        assert "FAILED tests/test_calc.py::test_sub" in text
        assert "1 failed, 1 passed" in text
    finally:
        watch.stop()


def test_no_impact_runs_everything(root: Path) -> None:
    """With --no-impact nothing is recorded, so every cycle runs the whole suite."""
    watch = Watch(root, "--no-impact")
    try:
        first = "\n".join(watch.until_idle())
        assert "all tests selected (impact recording is off (--no-impact))" in first
        _edit(root / "src/calc.py", "return a - b", "return a - b - 1")
        text = "\n".join(watch.until_idle())
        assert "all tests selected" in text and "1 failed, 2 passed" in text
    finally:
        watch.stop()


def _starts_logged(root: Path, log: Path) -> None:
    """A conftest that logs, per pytest session, whether it was a pre-started one."""
    (root / "tests/conftest.py").write_text(
        "import sys\n\n"
        "def pytest_sessionstart(session):\n"
        "    warm = any('spare_child' in a for a in sys.orig_argv)\n"
        f"    with open({str(log)!r}, 'a') as f:\n"
        "        f.write('warm\\n' if warm else 'cold\\n')\n"
    )


def _spares_of(root: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline", "cwd"]):
        cmdline = proc.info["cmdline"] or []
        if proc.info["cwd"] == str(root) and any("spare_child" in a for a in cmdline):
            found.append(proc)
    return found


def test_runs_use_the_prestarted_pytest(root: Path, tmp_path: Path) -> None:
    """A save's run is the interpreter started while the watcher was idle; it reports the
    same results; no spare outlives the watcher."""
    log = tmp_path / "starts.log"
    _starts_logged(root, log)
    watch = Watch(root)
    try:
        watch.until_idle()
        _edit(root / "src/calc.py", "return a - b", "return a - b - 1")
        text = "\n".join(watch.until_idle())
        assert "FAILED tests/test_calc.py::test_sub" in text and "1 failed in" in text
        assert log.read_text().splitlines()[-1] == "warm"
        assert _spares_of(root)  # the next one waits already
    finally:
        watch.stop()
    deadline = time.monotonic() + 5
    while _spares_of(root) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _spares_of(root)


def test_no_prestart_starts_each_run_cold(root: Path, tmp_path: Path) -> None:
    """--no-prestart: every run is a fresh ``python -m pytest``."""
    log = tmp_path / "starts.log"
    _starts_logged(root, log)
    watch = Watch(root, "--no-prestart")
    try:
        watch.until_idle()
        _edit(root / "src/calc.py", "return a - b", "return a - b - 1")
        assert "1 failed in" in "\n".join(watch.until_idle())
        assert set(log.read_text().splitlines()) == {"cold"}
        assert not _spares_of(root)
    finally:
        watch.stop()
