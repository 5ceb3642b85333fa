"""What pytest's assertion rewriter costs hotlap's own modules under PYTHONDONTWRITEBYTECODE=1.

pytest imports the modules of every ``pytest11`` plugin distribution (hotlap's, xdist's)
through its assertion rewriter, which never reads the ``.pyc`` files pip wrote: it parses,
rewrites and compiles each module from source, and caches the result (``*-pytest-X.pyc``
beside pip's) only when bytecode may be written. With ``PYTHONDONTWRITEBYTECODE=1`` that work is
repeated in every pytest process (controller and each worker) of every run.

This script measures it in a venv of its own (``--venv``; created with pytest, xdist and the
hotlap wheel ``--wheel`` when missing): each variant runs on generated trivial tests with
``PYTHONDONTWRITEBYTECODE=1``, alternately with pytest's cached rewrites of the installed
plugins present (written once by a run without the variable) and set aside. The difference is
what the rewriter costs per run; a user whose environment writes bytecode pays it once.

    .venv/bin/python bench/rewrite_cost.py --wheel ~/.cache/hotlap-bench/wheels/hotlap-*.whl
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import proctree
from profile_tree import generate_suite
from suites import run_env


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--venv", type=Path, default=Path.home() / ".cache/hotlap-bench/rewrite-venv"
    )
    parser.add_argument("--wheel", type=Path, help="hotlap wheel (needed to create the venv)")
    parser.add_argument("--tests", type=int, default=400)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    python = args.venv / "bin" / "python"
    if not python.exists():
        if args.wheel is None:
            print(f"no venv at {args.venv}: give --wheel to create it")
            return 2
        subprocess.run([sys.executable, "-m", "venv", str(args.venv)], check=True)
        pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        reqs = ["pytest==9.2.0", "pytest-xdist[psutil]==3.8.0", str(args.wheel)]
        subprocess.run([*pip, *reqs], check=True)
    work = Path(tempfile.mkdtemp(prefix="hotlap-rewrite-"))
    try:
        suite = work / "suite"
        generate_suite(suite, max(1, args.tests // 100), min(args.tests, 100))
        common = ["-n", "2", "-p", "no:cacheprovider"]
        variants = {
            "plain": [str(python), "-m", "pytest", *common, "-p", "no:hotlap"],
            "plugin": [
                str(python),
                "-m",
                "pytest",
                "-p",
                "hotlap",
                f"--hotlap-json={work}/r.json",
                *common,
            ],
            "hotlap": [str(args.venv / "bin" / "hotlap"), "run", "--headless", "--", *common],
        }
        site = args.venv / "lib"
        for pyc in site.rglob("__pycache__/*-pytest-*.pyc"):
            pyc.unlink()
        for argv in variants.values():  # writes pytest's rewrites of the plugins (and tests')
            proctree.run(argv, suite, run_env(bytecode=True))
        for cache in suite.rglob("__pycache__"):
            shutil.rmtree(cache)
        cached = sorted(site.rglob("__pycache__/*-pytest-*.pyc"))
        owners: dict[str, int] = {}
        for pyc in cached:
            top = pyc.relative_to(site).parts[2]  # python3.X/site-packages/<top>/...
            owners[top] = owners.get(top, 0) + 1
        print(f"pytest's cached rewrites in the venv: {owners}")
        aside = work / "aside"
        aside.mkdir()
        env = run_env(bytecode=False)
        cpu: dict[tuple[str, bool], list[float]] = {}
        for i in range(args.repeat):
            for with_cache in (i % 2 == 0, i % 2 == 1):
                for n, pyc in enumerate(cached):
                    held = aside / str(n)
                    if with_cache and held.exists():
                        held.rename(pyc)
                    elif not with_cache and pyc.exists():
                        pyc.rename(held)
                for name, argv in variants.items():
                    r = proctree.run(argv, suite, env)
                    cpu.setdefault((name, with_cache), []).append(r.cpu)
        for n, pyc in enumerate(cached):
            if (aside / str(n)).exists():
                (aside / str(n)).rename(pyc)
        print(
            f"{args.tests} trivial tests, -n 2, PYTHONDONTWRITEBYTECODE=1, {args.repeat} runs each"
        )
        print(
            "median CPU of the process tree, rewrites not cached / cached: "
            "the difference is what pytest's rewriter costs"
        )
        for name in variants:
            off = statistics.median(cpu[(name, False)])
            on = statistics.median(cpu[(name, True)])
            print(f"  {name:7} {off:6.2f} s / {on:6.2f} s  = {off - on:+.2f} s per run")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
