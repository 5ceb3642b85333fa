"""The worker process as the app sees it: started with its environment, fed JSON lines,
read without blocking, stopped with its whole process group."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

WORKER = str(Path(__file__).with_name("worker.py"))
SITE = str(Path(__file__).with_name("site"))


def pytest_options(tmpdir: str) -> list[str]:
    """Options of every pytest in a mutation run: hotlap's own plugin off, pytest's cache and
    temporary directories in ``tmpdir`` (removed after the run: a fork never runs pytest's
    clean-up), one process (xdist's ``-n 0``), coverage off, quiet."""
    args = [
        "-p",
        "no:hotlap",
        "-o",
        f"cache_dir={tmpdir}/pytest-cache",
        f"--basetemp={tmpdir}/basetemp",
        "-q",
        "--tb=no",
    ]
    autoload = not os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
    if autoload and importlib.util.find_spec("xdist") is not None:
        args += ["-n", "0"]
    if autoload and importlib.util.find_spec("pytest_cov") is not None:
        args.append("--no-cov")
    return args


def worker_env() -> dict[str, str]:
    """The worker's environment: no hotlap run of our own leaking in, no bytecode written,
    the ``sitecustomize`` that gives subprocesses the mutant first on ``PYTHONPATH``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLAP_")}
    old = env.get("PYTHONPATH", "")
    env["PYTHONPATH"] = SITE + (os.pathsep + old if old else "")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    env["TMPDIR"] = env.get("TMPDIR", tempfile.gettempdir())
    return env


class Worker:
    """A worker process (started at once: it imports pytest while the run is planned) and
    the commands it has not answered yet."""

    def __init__(self, root: Path) -> None:
        self.mode = "worker"
        self.root = root
        self.log = tempfile.NamedTemporaryFile(prefix="hotlap-mutate-", suffix=".log")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, WORKER],
            cwd=root,
            env=worker_env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            start_new_session=True,
        )
        assert self.proc.stdout is not None
        self.fd = self.proc.stdout.fileno()
        os.set_blocking(self.fd, False)
        self.buf = b""
        self.ready: dict[str, Any] | None = None
        self.inflight: dict[str, Any] = {}
        self.dead = False

    @property
    def alive(self) -> bool:
        return not self.dead and self.proc.poll() is None

    def send(self, message: dict[str, Any]) -> None:
        stdin = self.proc.stdin
        if stdin is None or self.dead:
            return
        try:
            stdin.write(json.dumps(message).encode() + b"\n")
            stdin.flush()
        except OSError:
            self.dead = True

    def read(self) -> list[dict[str, Any]]:
        try:
            data = os.read(self.fd, 1 << 16)
        except BlockingIOError:
            return []
        if not data:
            self.dead = True
            return []
        self.buf += data
        out = []
        while b"\n" in self.buf:
            line, self.buf = self.buf.split(b"\n", 1)
            with contextlib.suppress(ValueError):
                out.append(json.loads(line))
        return out

    def log_tail(self) -> str:
        with contextlib.suppress(OSError):
            self.log.flush()
            text = Path(self.log.name).read_text(encoding="utf-8", errors="replace")
            return "\n".join(text.strip().splitlines()[-5:])
        return ""

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        # Its whole group (forks and what their tests started), while it is not reaped: a
        # reaped pid may already belong to someone else's process group.
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        with contextlib.suppress(OSError):
            if self.proc.stdout is not None:
                self.proc.stdout.close()
        self.log.close()


def spawn_worker(project: Path) -> Worker | None:
    """A worker started in ``project`` at once, importing pytest while the app imports
    the rest of hotlap and plans (None without impact data: there is nothing to plan). Its
    first command names the rootdir it works in."""
    if not (project / ".hotlap" / "impact.sqlite3").exists():
        return None
    try:
        return Worker(project)
    except OSError:
        return None
