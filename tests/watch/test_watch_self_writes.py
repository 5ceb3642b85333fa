"""The run's own writes are not changes: a test that writes into the project does not make
watch rerun it, while an edit of the same file by anyone else does."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from watch_helpers import Watch, clean_env, small_project, write

COUNTER = """
    from pathlib import Path

    from calc import add

    HERE = Path(__file__).parent

    def test_counter():
        path = HERE / "counter.txt"
        n = int(path.read_text()) if path.exists() else 0
        path.write_text(str(add(n, 1)))
        assert n >= 0
    """


def test_a_self_writing_test_does_not_retrigger_watch(tmp_path: Path) -> None:
    """A save that reruns a test which bumps a counter file beside itself runs it once: the
    counter's change is the run's own (no second cycle within 4 s, the counter moved by
    one); then a hand edit of the counter (a real data-file edit) reruns it."""
    root = tmp_path / "proj"
    small_project(root)
    write(root, "tests/test_counter.py", COUNTER)
    first = subprocess.run(
        [sys.executable, "-m", "hotlap", "run", "--headless", "--no-history", "-n", "0"],
        cwd=root, env=clean_env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert first.returncode == 0, first.stdout + first.stderr
    counter = root / "tests" / "counter.txt"
    assert counter.read_text() == "1"
    watch = Watch(root)
    try:
        watch.until_idle()
        source = root / "src" / "calc.py"
        source.write_text(source.read_text().replace("return a + b", "return b + a"))
        lines = watch.until_idle()
        assert any("2 selected" in line for line in lines), lines
        assert counter.read_text() == "2"
        time.sleep(4)
        assert counter.read_text() == "2", watch.seen
        quiet = []
        while not watch.lines.empty():
            quiet.append(watch.lines.get())
        assert not any("changed:" in line for line in quiet), quiet
        counter.write_text("10")
        text = "\n".join(watch.until_idle())
        assert "changed: tests/counter.txt" in text
        assert "1 selected" in text
        assert counter.read_text() == "11"
    finally:
        watch.stop()
