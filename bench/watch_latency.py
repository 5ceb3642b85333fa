"""Watch latency: file save -> first result line of ``hotlap watch --headless``.

A small project (one module, a few tests) is recorded once; then ``hotlap watch --headless``
runs and the bench saves a one-test change ``--saves`` times, timing from the write to
(a) the "N selected" line and (b) pytest's summary line (the first result line). Prints p50
and p95 of each.

Usage: python bench/watch_latency.py [--saves 20] [--debounce 300] [--no-prestart]

``--no-prestart`` is passed on to ``hotlap watch`` (every run's pytest starts cold). To time
another hotlap tree, put its ``src`` first on ``PYTHONPATH`` (the runs' pytest inherits it).
"""

from __future__ import annotations

import argparse
import os
import queue
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

MODULE = "def add(a, b):\n    return a + b + {n} - {n}\n\ndef sub(a, b):\n    return a - b\n"
TESTS = """
from calc import add, sub

def test_add():
    assert add(1, 2) == 3

def test_sub():
    assert sub(3, 2) == 1

def test_other():
    assert True
"""
SUMMARY = re.compile(r"^\d+ (passed|failed)")


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("HOTLAP_", "PYTEST_"))}


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--saves", type=int, default=20)
    parser.add_argument("--debounce", type=int, default=300)
    parser.add_argument("--no-prestart", action="store_true")
    ns = parser.parse_args()
    load_before = os.getloadavg()[0]
    root = Path(tempfile.mkdtemp(prefix="hotlap-watch-bench-"))
    proc: subprocess.Popen[str] | None = None
    try:
        (root / "src").mkdir()
        (root / "tests").mkdir()
        (root / "pyproject.toml").write_text('[tool.pytest.ini_options]\npythonpath = ["src"]\n')
        (root / "src" / "calc.py").write_text(MODULE.format(n=0))
        (root / "tests" / "test_calc.py").write_text(TESTS)
        env = clean_env()
        subprocess.run(
            [sys.executable, "-m", "hotlap", "run", "--headless", "--no-history", "-n", "0"],
            cwd=root,
            env=env,
            check=True,
            capture_output=True,
        )
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hotlap",
                "watch",
                "--headless",
                "--no-history",
                "--debounce",
                str(ns.debounce),
                *(["--no-prestart"] if ns.no_prestart else []),
            ],
            cwd=root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        lines: queue.Queue[tuple[float, str]] = queue.Queue()

        def read() -> None:
            assert proc is not None and proc.stdout is not None
            for line in proc.stdout:
                lines.put((time.perf_counter(), line.rstrip("\n")))

        threading.Thread(target=read, daemon=True).start()

        def wait_for(pattern: str, timeout: float = 30.0) -> tuple[float, str]:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                try:
                    t, line = lines.get(timeout=0.5)
                except queue.Empty:
                    continue
                if re.search(pattern, line):
                    return t, line
            raise SystemExit(f"timed out waiting for {pattern!r}")

        wait_for("waiting for changes")
        selected: list[float] = []
        result: list[float] = []
        for n in range(1, ns.saves + 1):
            time.sleep(0.3)
            start = time.perf_counter()
            (root / "src" / "calc.py").write_text(MODULE.format(n=n))
            t_sel, line = wait_for(r"selected \(")
            if not line.startswith("hotlap watch: 1 selected"):
                raise SystemExit(f"unexpected selection: {line}")
            t_res, _ = wait_for(SUMMARY.pattern)
            wait_for("waiting for changes")
            selected.append(t_sel - start)
            result.append(t_res - start)
        # The same one-test pytest run without hotlap, timed now: on a loaded machine most of
        # the latency is pytest's own start-up, and this separates it from hotlap's share.
        plain = []
        for _ in range(5):
            start = time.perf_counter()
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pytest",
                    "-p",
                    "no:hotlap",
                    "-n",
                    "0",
                    "-q",
                    "tests/test_calc.py::test_add",
                ],
                cwd=root,
                env=env,
                capture_output=True,
                check=True,
            )
            plain.append(time.perf_counter() - start)
        import hotlap

        print(
            f"watch latency over {ns.saves} saves (debounce {ns.debounce} ms, -n 0, "
            f"{'no prestart, ' if ns.no_prestart else ''}hotlap from "
            f"{Path(hotlap.__file__).parents[1]}, python {sys.version.split()[0]}, "
            f"load {load_before:.2f} -> {os.getloadavg()[0]:.2f}):"
        )
        for label, values in (("save -> 'N selected'", selected), ("save -> summary line", result)):
            print(
                f"  {label:22s} p50 {statistics.median(values):5.2f} s   "
                f"p95 {percentile(values, 95):5.2f} s   max {max(values):5.2f} s"
            )
        print(
            f"  plain one-test pytest  p50 {statistics.median(plain):5.2f} s (no hotlap, for scale)"
        )
    finally:
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
