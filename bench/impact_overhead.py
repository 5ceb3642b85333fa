"""Cost of impact recording: plain pytest vs pytest with hotlap's dependency recording.

Writes a loop-heavy suite (half the tests loop inline, half call small project functions in
their loop: the worst case for call tracing) into a temp dir and times, best of ``--repeat``:

    plain:     python -m pytest -p no:hotlap -n 0 -q
    recording: python -m pytest -p hotlap -n 0 -q   with HOTLAP_IMPACT_DIR set

Usage: python bench/impact_overhead.py [--python PATH] [--tests 200] [--repeat 3] [--tracer T]
Run it once with a 3.11 and once with a 3.12+ interpreter that has pytest and hotlap.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

HELPERS = """
def step(total, i):
    return (total * 31 + i) % 1000003

def mix(a, b):
    return (a ^ b) & 0xFFFF
"""

INLINE = """
def test_inline_{n}():
    total = 0
    for i in range({loops}):
        total = (total * 31 + i) % 1000003
        if i % 7 == 0:
            total ^= i & 0xFF
    assert total >= 0
"""

CALLS = """
from benchpkg.helpers import mix, step

def test_calls_{n}():
    total = 0
    for i in range({loops}):
        total = step(total, i)
        if i % 3 == 0:
            total = mix(total, i)
    assert total >= 0
"""


def write_suite(root: Path, tests: int, loops: int) -> None:
    (root / "benchpkg").mkdir(parents=True)
    (root / "benchpkg" / "__init__.py").write_text("")
    (root / "benchpkg" / "helpers.py").write_text(HELPERS)
    (root / "tests").mkdir()
    (root / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider\n")
    for n in range(tests):
        template = INLINE if n % 2 == 0 else CALLS
        (root / "tests" / f"test_{n:04d}.py").write_text(
            textwrap.dedent(template.format(n=n, loops=loops))
        )


def clean_env() -> dict[str, str]:
    """No outer pytest/hotlap settings; bytecode caches allowed (as on a developer's machine:
    without them pytest re-rewrites every test module's asserts on each run)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOTLAP_", "PYTEST_"))}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPATH"] = "."
    return env


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child): CPU time is what other load on a shared
    machine disturbs least, so the ratio is taken from it."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--tests", type=int, default=200)
    parser.add_argument("--loops", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--tracer",
        choices=["", "monitoring", "markers", "profile"],
        default="",
        help="force one collector (default: hotlap's choice for that Python)",
    )
    ns = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="hotlap-impact-bench-"))
    try:
        write_suite(root, ns.tests, ns.loops)
        version = subprocess.run(
            [ns.python, "-c", "import sys; print(sys.version.split()[0])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        base = [ns.python, "-m", "pytest", "-q", "-n", "0"]
        plain_env = clean_env()
        rec_env = clean_env()
        if ns.tracer:
            rec_env["HOTLAP_IMPACT_TRACER"] = ns.tracer
        plain, rec = [], []
        # Warm-up: write the bytecode and assertion-rewrite caches once.
        timed([*base, "-p", "no:hotlap"], root, plain_env)
        for i in range(ns.repeat):
            plain.append(timed([*base, "-p", "no:hotlap"], root, plain_env))
            out = root / f".impact-{i}"
            rec_env["HOTLAP_IMPACT_DIR"] = str(out)
            rec.append(timed([*base, "-p", "hotlap"], root, rec_env))
            files = list(out.glob("*.json"))
            assert files, "recording wrote nothing"
        pw, pc = min(w for w, _ in plain), min(c for _, c in plain)
        rw, rc = min(w for w, _ in rec), min(c for _, c in rec)
        tracer = f", tracer {ns.tracer}" if ns.tracer else ""
        print(f"python {version}: {ns.tests} tests x {ns.loops} loops, best of {ns.repeat}{tracer}")
        print(f"  plain pytest      wall {pw:6.2f} s   cpu {pc:6.2f} s")
        print(f"  hotlap recording  wall {rw:6.2f} s   cpu {rc:6.2f} s")
        print(f"  overhead          wall {rw / pw:6.2f}x   cpu {rc / pc:6.2f}x")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
