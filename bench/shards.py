"""How evenly ``--hotlap-shard K/N`` splits a skewed suite, against pytest-split.

Writes a suite whose tests sleep for lognormal seconds (a few long tests, many short ones, a
parametrized xdist_group), a ``.test_durations`` of what an earlier run measured (the sleeps,
with 10 % noise), then adds tests the durations file does not know yet: a new file of slow
tests and new cases in existing files. For each N, runs the N shards of hotlap
(``--hotlap-shard``) and the N groups of pytest-split (``--splits N --group K``, its
least_duration mode, the reference) on the same durations, all shards of one tool at once (the
tests sleep, so they do not compete for the 2 cores), and prints each shard's recorded seconds
(sum of its tests' durations in hotlap's JSON report) and the spread (max - min) / max.

    .venv/bin/python bench/shards.py --seconds 12 --shards 2 3 4
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

TEST_FILE = """
import time
import pytest

SECONDS = {seconds!r}

@pytest.mark.parametrize("case", sorted(SECONDS))
def test_case(case):
    time.sleep(SECONDS[case])
"""
GROUP_FILE = """
import time
import pytest

@pytest.mark.xdist_group("db")
@pytest.mark.parametrize("i", range(6))
def test_db(i):
    time.sleep({seconds!r})
"""


def write_suite(root: Path, total: float, seed: int) -> tuple[dict[str, float], float]:
    """The suite, and the durations an earlier run measured (before the new tests came)."""
    rng = random.Random(seed)
    raw = [rng.lognormvariate(0, 1.3) for _ in range(90)]
    scale = total * 0.8 / sum(raw)
    files: dict[str, dict[str, float]] = {}
    for i, r in enumerate(raw):
        files.setdefault(f"test_m{i % 7}.py", {})[f"c{i:03d}"] = round(r * scale, 3)
    known: dict[str, float] = {}
    for name, cases in files.items():
        for case, seconds in cases.items():
            known[f"{name}::test_case[{case}]"] = round(seconds * rng.uniform(0.9, 1.1), 4)
    group_each = round(total * 0.05 / 6, 3)
    for i in range(6):
        known[f"test_group.py::test_db[{i}]"] = group_each
    # New since the durations were written: a file of slow tests and cases in old files.
    files["test_new.py"] = {f"n{i}": round(total * 0.1 / 8, 3) for i in range(8)}
    for i, name in enumerate(sorted(files)[:3]):
        files[name][f"late{i}"] = round(total * 0.05 / 3, 3)
    for name, cases in files.items():
        (root / name).write_text(TEST_FILE.format(seconds=cases))
    (root / "test_group.py").write_text(GROUP_FILE.format(seconds=group_each))
    (root / "pytest.ini").write_text("[pytest]\n")
    whole = sum(s for cases in files.values() for s in cases.values()) + 6 * group_each
    return known, whole


def env() -> dict[str, str]:
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("HOTLAP_", "PYTEST_XDIST_", "PYTEST_ADDOPTS"))
    }


def shard_seconds(root: Path, n: int, tool: str) -> list[float]:
    """Run the n shards of ``tool`` at once; each one's recorded seconds."""
    procs = []
    for k in range(1, n + 1):
        report = root / f"{tool}-{n}-{k}.json"
        args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "0"]
        args.append(f"--hotlap-json={report}")
        if tool == "hotlap":
            args += [f"--hotlap-shard={k}/{n}", "--hotlap-shard-durations=.test_durations"]
        else:
            args += ["--splits", str(n), "--group", str(k), "--durations-path", ".test_durations",
                     "--splitting-algorithm", "least_duration"]  # fmt: skip
        proc = subprocess.Popen(
            args, cwd=root, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        procs.append((report, proc))
    out = []
    for report, proc in procs:
        if proc.wait() not in (0, 5):
            sys.exit(f"{tool} shard exited {proc.returncode}")
        data = json.loads(report.read_text()) if report.exists() else {"tests": []}
        out.append(sum(t["setup"] + t["call"] + t["teardown"] for t in data["tests"]))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=12.0, help="the whole suite's sleep")
    parser.add_argument("--shards", type=int, nargs="+", default=[2, 3, 4])
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hotlap-bench-shards-") as tmp:
        root = Path(tmp)
        known, whole = write_suite(root, args.seconds, args.seed)
        (root / ".test_durations").write_text(json.dumps(known, indent=4, sort_keys=True))
        top = sorted(known.values())[-3:]
        print(
            f"suite: {len(known)} known tests + 11 new, {whole:.1f} s of sleep, "
            f"longest known {', '.join(f'{s:.2f}' for s in reversed(top))} s "
            f"(load {os.getloadavg()[0]:.1f})"
        )
        for n in args.shards:
            print(f"N={n} ideal max {max(whole / n, top[-1]):.2f} s (the sleeps alone)")
            for tool in ("hotlap", "pytest-split"):
                seconds = shard_seconds(root, n, tool)
                spread = (max(seconds) - min(seconds)) / max(seconds)
                shown = " ".join(f"{s:6.2f}" for s in seconds)
                print(f"N={n} {tool:<13} shards {shown}   max {max(seconds):6.2f} s   "
                      f"spread {spread * 100:5.1f} %")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
