"""Driving ``hotlap watch --headless`` in a subprocess, bounded in time."""

from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path


def clean_env() -> dict[str, str]:
    """No outer hotlap/xdist run leaking into the nested one."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("HOTLAP_", "PYTEST_XDIST", "PYTEST_ADDOPTS", "COV_"))
    }


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def small_project(root: Path) -> None:
    """Two modules, three tests, recorded by one run."""
    write(root, "pyproject.toml", '[tool.pytest.ini_options]\npythonpath = ["src"]\n')
    write(root, ".gitignore", "ignored_dir/\n*.log\n")
    write(
        root,
        "src/calc.py",
        "def add(a, b):\n    return a + b\n\ndef sub(a, b):\n    return a - b\n",
    )
    write(
        root,
        "tests/test_calc.py",
        """
        from calc import add, sub

        def test_add():
            assert add(1, 2) == 3

        def test_sub():
            assert sub(3, 2) == 1

        def test_none():
            assert True
        """,
    )


class Watch:
    """A running ``hotlap watch --headless``; lines are read on a thread."""

    def __init__(self, root: Path, *args: str) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hotlap", "watch", "--headless", "--no-history", *args],
            cwd=root,
            env=clean_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, pattern: str, timeout: float = 30.0) -> str:
        """The next line matching ``pattern`` (regex), failing after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no line matching {pattern!r}; saw:\n" + "\n".join(self.seen))
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            self.seen.append(line)
            if regex.search(line):
                return line

    def until_idle(self, timeout: float = 30.0) -> list[str]:
        """Lines up to the next "waiting for changes"."""
        start = len(self.seen)
        self.wait_for("waiting for changes", timeout)
        return self.seen[start:]

    def stop(self) -> None:
        """TERM, then KILL, the watcher and anything it started."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # leftover pytest children, if any
