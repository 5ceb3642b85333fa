"""Temp projects for the mutation tests, driven through the real ``hotlap`` CLI (real pytest
subprocesses): record impact data with ``hotlap run``, then ``hotlap mutate``."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any


def clean_env() -> dict[str, str]:
    """The environment without any outer hotlap/xdist/pytest run leaking into the nested one."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("HOTLAP_", "PYTEST_XDIST", "PYTEST_ADDOPTS", "PYTEST_CURRENT", "COV_"))
    }


PYPROJECT = """
    [tool.pytest.ini_options]
    pythonpath = ["src"]
    testpaths = ["tests"]
    asyncio_default_fixture_loop_scope = "function"
    """


class Project:
    """Files under ``root`` plus helpers to run hotlap there."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.env: dict[str, str] = {}
        self.write("pyproject.toml", PYPROJECT)
        self.write("src/pkg/__init__.py", "")

    def write(self, rel: str, text: str) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    def edit(self, rel: str, old: str, new: str) -> None:
        path = self.root / rel
        text = path.read_text(encoding="utf-8")
        assert old in text, f"{old!r} not in {rel}"
        path.write_text(text.replace(old, new, 1), encoding="utf-8")

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "hotlap", *args]

    def hotlap(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(*args),
            cwd=self.root,
            env={**clean_env(), **self.env},
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def record(self) -> None:
        """``hotlap run``: the tests pass and their dependencies are recorded."""
        proc = self.hotlap("run", "--headless", "--", "-n", "0")
        assert proc.returncode == 0, proc.stdout + proc.stderr

    def mutate(self, *args: str, expect: int = 0) -> dict[str, Any]:
        """``hotlap mutate --headless --json``: the JSON report, plus the output as "out"."""
        report = self.root.parent / f"{self.root.name}-mutate.json"
        proc = self.hotlap("mutate", "--headless", "--json", str(report), *args)
        assert proc.returncode == expect, proc.stdout + proc.stderr
        data: dict[str, Any] = json.loads(report.read_text(encoding="utf-8"))
        data["out"] = proc.stdout + proc.stderr
        return data


def by_change(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Mutants by ``function: old -> new`` (the diff's two lines, stripped of -/+)."""
    found = {}
    for mutant in report["mutants"]:
        old, new = mutant["diff"].split("\n")
        found[f"{mutant['function']}: {old[1:]} -> {new[1:]}"] = mutant
    return found


def tree_digest(root: Path) -> str:
    """A digest of every file and directory under ``root`` but ``.hotlap/`` (names, bytes,
    modes): the project as the user sees it."""
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != ".hotlap")
        rel_dir = os.path.relpath(dirpath, root)
        h.update(f"D {rel_dir}\n".encode())
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            h.update(f"F {rel_dir}/{name} {st.st_mode} {st.st_size}\n".encode())
            with open(path, "rb") as f:
                h.update(f.read())
    return h.hexdigest()


class Watch:
    """A running ``hotlap watch --headless``; its lines are read on a thread."""

    def __init__(self, project: Project, *args: str) -> None:
        import queue
        import threading

        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self.proc = subprocess.Popen(
            project.command("watch", "--headless", "--no-history", *args),
            cwd=project.root,
            env={**clean_env(), **project.env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, text: str, timeout: float = 60.0) -> str:
        """The next line containing ``text``."""
        import queue
        import time

        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no line with {text!r}; saw:\n" + "\n".join(self.seen))
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            self.seen.append(line)
            if text in line:
                return line

    def stop(self) -> None:
        import signal

        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
