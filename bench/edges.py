"""The edges of a headless run: from ``hotlap`` to pytest spawned, from pytest printing its
summary line to the user seeing it, from pytest's exit to hotlap's.

Goals (issue 15): spawn ≤ 80 ms, summary ≤ 50 ms, exit ≤ 150 ms.

* **spawn** and **summary** are read from an ``strace -f`` log of the run (only ``execve``,
  ``write``, ``exit_group`` and ``wait4`` are traced, through a seccomp filter, so the other
  system calls run at full speed): the first ``execve`` of a pytest process after hotlap's own,
  and the ``write`` of the summary line by pytest and then by hotlap.
* **exit** is measured without strace (tracing slows the threads that finish a run): a
  watcher polls pytest's process every 2 ms and notes when it is gone, then when hotlap is.

Each round runs the command twice (traced, then watched); a warm-up run comes first, so
history and impact data are there as in a developer's second run.

    python bench/edges.py --project ~/.cache/hotlap-bench/src/click-8.5.1 \\
        --python ~/.cache/hotlap-bench/venvs/cpython-311/click/bin/python --rounds 5
    python bench/edges.py --trivial 2000 --rounds 5     # a generated suite, this interpreter

``PYTHONDONTWRITEBYTECODE=1`` is set for the runs, as in many CI images.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

_SUMMARY = re.compile(rb" (passed|failed|error|errors|no tests ran)[^\"]* in [\d.]+s")


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOTLAP_", "PYTEST_"))}
    env.pop("CI", None)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def traced(cmd: list[str], cwd: Path, log: Path) -> tuple[float | None, float | None]:
    """(spawn, summary relay) in seconds, from an strace log of one run."""
    subprocess.run(
        ["strace", "-f", "--seccomp-bpf", "-ttt", "-s", "300", "-o", str(log),
         "-e", "trace=execve,write,exit_group,wait4", *cmd],
        cwd=cwd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False,
    )  # fmt: skip
    app = start = pytest_pid = spawn = None
    said = relayed = None
    for raw in log.read_bytes().splitlines():
        m = re.match(rb"(\d+)\s+([\d.]+) (.*)", raw)
        if not m:
            continue
        pid, t, rest = int(m.group(1)), float(m.group(2)), m.group(3)
        if app is None and rest.startswith(b"execve("):
            app, start = pid, t
        elif (
            pytest_pid is None
            and pid != app
            and rest.startswith(b"execve(")
            and b"pytest" in rest
            and b"= 0" in rest
        ):
            pytest_pid, spawn = pid, t
        elif rest.startswith(b"write(1,") and _SUMMARY.search(rest):
            if pid == pytest_pid and said is None:
                said = t
            elif pid == app:
                relayed = t
    return (
        spawn - start if spawn is not None and start is not None else None,
        relayed - said if relayed is not None and said is not None else None,
    )


def watched(cmd: list[str], cwd: Path) -> float | None:
    """Seconds from pytest's exit to hotlap's, polling every 2 ms (None: pytest not seen)."""
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    app = psutil.Process(proc.pid)
    child: psutil.Process | None = None
    while child is None and proc.poll() is None:
        with_kids = app.children()
        child = with_kids[0] if with_kids else None
        time.sleep(0.002)
    gone: float | None = None
    while proc.poll() is None:
        if gone is None and child is not None:
            try:
                alive = child.is_running() and child.status() != psutil.STATUS_ZOMBIE
            except psutil.NoSuchProcess:
                alive = False
            if not alive:
                gone = time.monotonic()
        time.sleep(0.002)
    return time.monotonic() - gone if gone is not None else None


def generate(root: Path, tests: int) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pytest.ini").write_text("[pytest]\n")
    per = 100
    for f in range((tests + per - 1) // per):
        body = [f"def test_{t}():\n    assert {t} == {t}\n" for t in range(per)]
        (root / f"test_gen_{f:03d}.py").write_text("\n\n".join(body))


def _line(name: str, values: list[float], goal: float) -> str:
    ms = sorted(v * 1000 for v in values)
    if not ms:
        return f"{name:8} no measurement"
    met = sum(1 for v in ms if v <= goal)
    return (
        f"{name:8} median {statistics.median(ms):6.0f} ms  min {ms[0]:5.0f}  max {ms[-1]:6.0f}"
        f"  (goal {goal:.0f} ms: {met}/{len(ms)} rounds)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--project", type=Path, help="a project to run hotlap in")
    where.add_argument("--trivial", type=int, metavar="N", help="generate N trivial tests")
    parser.add_argument("--python", default=sys.executable, help="interpreter with hotlap")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("pytest_args", nargs="*", default=["-n", "2", "-p", "no:cacheprovider"])
    args = parser.parse_args()
    if shutil.which("strace") is None:
        print("strace is needed (apt install strace)", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="hotlap-edges-"))
    project = args.project or work / "suite"
    if args.trivial:
        generate(project, args.trivial)
    cmd = [args.python, "-m", "hotlap", "run", "--headless", "--", *args.pytest_args]
    print(f"$ {' '.join(cmd)}  (cwd {project})")
    subprocess.run(cmd, cwd=project, env=_env(), capture_output=True, check=False)  # warm-up
    spawns: list[float] = []
    relays: list[float] = []
    exits: list[float] = []
    for r in range(args.rounds):
        spawn, relay = traced(cmd, project, work / "strace.log")
        lag = watched(cmd, project)
        load = os.getloadavg()[0]
        print(
            f"round {r + 1}: spawn {spawn and spawn * 1000:.0f} ms, summary "
            f"{relay and relay * 1000:.0f} ms, exit {lag and lag * 1000:.0f} ms (load {load:.1f})"
        )
        spawns += [spawn] if spawn is not None else []
        relays += [relay] if relay is not None else []
        exits += [lag] if lag is not None else []
    print(_line("spawn", spawns, 80))
    print(_line("summary", relays, 50))
    print(_line("exit", exits, 150))
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
