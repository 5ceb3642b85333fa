"""What ``hotlap safety`` finds on real suites, and what recording hazards costs.

For each suite (sources and venvs prepared by ``bench/suites.py`` in ``~/.cache/hotlap-bench``,
or ``--cache``), the sources are copied to a fresh temporary directory (the cache stays
untouched) and this checkout's hotlap is put first on ``PYTHONPATH`` (the venv's installed
hotlap is not changed).

1. Findings: one ``hotlap run --headless --no-impact -- -n 2`` (history on, so the run's
   hazards are kept), then ``hotlap safety``: its output (cut to ``--show`` lines) and the
   counts by kind.
2. Cost: ``hotlap run --headless --no-impact --no-history -- -n 2 -p no:cacheprovider`` with
   hazard recording ``on`` and ``off`` (``HOTLAP_NO_HAZARDS=1``), and ``off2`` (off again: its
   ratio to ``off`` is the noise floor), alternating, the order rotated each round, after
   one warm-up run of each. Each run is measured by the CPU of its whole process tree
   (``bench/proctree.py``: the app, pytest, the xdist workers). Printed: medians, and the
   median of the per-round ratios ``on/off`` and ``off2/off``. Pytest's counts must match.

Run with ``nice`` on a shared machine; ``uptime`` is printed before and after.

    nice .venv/bin/python bench/safety.py                       # click and attrs, 5 rounds
    nice .venv/bin/python bench/safety.py --suites click --rounds 7
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import proctree

REPO = Path(__file__).resolve().parent.parent
VERSIONS = {"click": "8.5.1", "attrs": "26.1.0"}
VARIANTS = ("off", "on", "off2")
_COUNTS = re.compile(r"(\d+) (passed|failed|skipped|xfailed|xpassed|errors?)\b")


def run_env() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("HOTLAP_", "PYTEST_", "VIRTUAL_ENV")) and k != "CI"
    }
    env["PYTHONPATH"] = str(REPO / "src")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def counts(result: proctree.RunResult) -> str:
    tail = result.stdout.strip().splitlines()[-1:] or [""]
    return " ".join(f"{n} {w}" for n, w in _COUNTS.findall(tail[0]))


def findings(python: str, project: Path, show: int) -> None:
    env = run_env()
    argv = [python, "-m", "hotlap", "run", "--headless", "--no-impact", "--", "-n", "2",
            "-p", "no:cacheprovider", "-p", "no:randomly"]  # fmt: skip
    result = proctree.run(argv, project, env)
    print(f"  findings run: exit {result.returncode}, {counts(result)}, {result.wall:.1f} s")
    shown = subprocess.run(
        [python, "-m", "hotlap", "safety", "--json"],
        cwd=project, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    data = json.loads(shown.stdout or "{}")
    tests = data.get("tests", {})
    kinds: dict[str, int] = {}
    shared = 0
    for hazards in tests.values():
        for h in hazards:
            kinds[h["hazard"]] = kinds.get(h["hazard"], 0) + 1
            shared += bool(h.get("shared_with") or h.get("read_by"))
    print(f"  hotlap safety: {len(tests)} test(s) with hazards; by kind {kinds}; "
          f"{shared} shared with another test")  # fmt: skip
    text = subprocess.run(
        [python, "-m", "hotlap", "safety"],
        cwd=project, env=env, capture_output=True, text=True, check=False,
    ).stdout.splitlines()  # fmt: skip
    for line in text[:show]:
        print(f"    | {line[:160]}")
    if len(text) > show:
        print(f"    | ... ({len(text) - show} more lines)")


def cost(python: str, project: Path, rounds: int) -> None:
    base = run_env()
    argv = [python, "-m", "hotlap", "run", "--headless", "--no-impact", "--no-history", "--",
            "-n", "2", "-p", "no:cacheprovider", "-p", "no:randomly"]  # fmt: skip
    envs = {
        "on": base,
        "off": {**base, "HOTLAP_NO_HAZARDS": "1"},
        "off2": {**base, "HOTLAP_NO_HAZARDS": "1"},
    }
    cpu: dict[str, list[float]] = {v: [] for v in VARIANTS}
    seen: dict[str, str] = {}
    for r in range(rounds + 1):  # round 0: warm-up, not counted
        order = VARIANTS[r % 3 :] + VARIANTS[: r % 3]
        for variant in order:
            result = proctree.run(argv, project, envs[variant])
            c = counts(result)
            first = seen.setdefault(variant, c)
            if c != first or ("off" in seen and c != seen["off"]):
                print(f"  COUNTS DIFFER: {variant}: {c} (off: {seen.get('off')})")
            if r:
                cpu[variant].append(result.cpu)
        if r:
            line = ", ".join(f"{v} {cpu[v][-1]:.2f}" for v in VARIANTS)
            print(f"  round {r}: CPU s {line}")
    on = [a / b for a, b in zip(cpu["on"], cpu["off"], strict=True)]
    floor = [a / b for a, b in zip(cpu["off2"], cpu["off"], strict=True)]
    med = {v: statistics.median(cpu[v]) for v in VARIANTS}
    print(f"  counts: {seen.get('off')}")
    print("  median CPU s: " + ", ".join(f"{v} {med[v]:.2f}" for v in VARIANTS))
    print(f"  on/off (median of {rounds} rounds): {statistics.median(on):.3f}  "
          f"[{min(on):.3f} .. {max(on):.3f}]")  # fmt: skip
    print(f"  off2/off, the noise floor:       {statistics.median(floor):.3f}  "
          f"[{min(floor):.3f} .. {max(floor):.3f}]")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suites", nargs="+", default=list(VERSIONS), choices=list(VERSIONS))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--show", type=int, default=25, help="lines of hotlap safety shown")
    parser.add_argument("--no-cost", action="store_true", help="findings only")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "hotlap-bench")
    ns = parser.parse_args()
    print("uptime:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    for name in ns.suites:
        source = ns.cache / "src" / f"{name}-{VERSIONS[name]}"
        python = ns.cache / "venvs" / "cpython-311" / name / "bin" / "python"
        if not source.is_dir() or not python.exists():
            print(f"{name}: not prepared (run bench/suites.py --setup-only first)")
            return 1
        with tempfile.TemporaryDirectory(prefix=f"hotlap-safety-{name}-") as tmp:
            project = Path(tmp) / source.name
            shutil.copytree(source, project, ignore=shutil.ignore_patterns(".hotlap"))
            print(f"{name} {VERSIONS[name]} (copied to {project})")
            findings(str(python), project, ns.show)
            if not ns.no_cost:
                cost(str(python), project, ns.rounds)
    print("uptime:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
