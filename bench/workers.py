"""hotlap's choice of ``-n`` (no ``-n`` given) against plain ``pytest -n 0`` and ``-n 2``.

    .venv/bin/python bench/workers.py [--rounds 5] [--only NAME ...]
        [--click DIR] [--attrs DIR] [--python PY]

Goal (issue 15): without ``-n``, hotlap is never slower than the better of plain ``-n 0``
and plain ``-n 2``, whatever pytest options are given. For each case it times, by wall clock
and by the CPU of the whole process tree, rounds of

* ``n0``, ``n2``: plain ``pytest -n 0 ARGS``, ``pytest -n 2 ARGS``
* ``again``:  the faster of the two (by a first run) again: its ratio to it is the noise
  floor of the machine
* ``hotlap``: ``hotlap run --headless -- ARGS`` (it picks ``-n``), after two warm-up runs (a
  project's first run is not timed for the choice; the second is)
* ``h0``, ``h2``: ``hotlap run --headless -- -n 0 ARGS`` and ``-n 2``: hotlap's own cost
  without a choice, to judge the choice alone

rotated each round. Ratios are medians of per-round ratios: ``goal`` = hotlap over the
round's better plain run (the issue's goal, hotlap's own cost included), ``choice`` = hotlap
over the round's better of ``h0``/``h2``. It also prints which ``-n`` hotlap chose.

Synthetic cases are generated in a temp directory; the real suites are sdists you prepare
(``pip download --no-binary :all: --no-deps click==8.5.1 attrs==25.3.0``, unpack, and
``pip install ./click-8.5.1 ./attrs-25.3.0 hypothesis cloudpickle pympler`` into the venv of
``--python``, which must have hotlap too) and pass with ``--click``/``--attrs``.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Case:
    name: str
    root: Path
    args: list[str]
    env: dict[str, str] = field(default_factory=dict)


def _write(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (root / name).write_text(text)
    return root


def synthetic(base: Path) -> list[Case]:
    """Suites where -n 0 wins (few or trivial tests) and where -n 2 wins (sleeps, CPU),
    each with options that select from them."""
    ini = "[pytest]\nmarkers =\n    slow\n"
    trivial = "".join(f"def test_{i}():\n    pass\n\n" for i in range(200))
    five = "".join(f"def test_{i}():\n    pass\n\n" for i in range(5))
    tiny = _write(base / "tiny", {"pytest.ini": ini, "test_t.py": five})
    many = _write(
        base / "trivial",
        {"pytest.ini": ini, **{f"test_{m:02d}.py": trivial for m in range(10)}},
    )
    sleepy_body = "import time, pytest\n\n" + "".join(
        f"{'@pytest.mark.slow' + chr(10) if i % 10 == 0 else ''}"
        f"def test_{i}():\n    time.sleep(0.02)\n\n"
        for i in range(60)
    )
    sleepy = _write(
        base / "sleepy",
        {"pytest.ini": ini, **{f"test_{m}.py": sleepy_body for m in "abcd"}},
    )
    cpu_body = "".join(
        f"def test_{i}():\n    sum(j * j for j in range(150_000))\n\n" for i in range(40)
    )
    cpu = _write(base / "cpu", {"pytest.ini": ini, "test_c.py": cpu_body, "test_d.py": cpu_body})
    addopts = _write(
        base / "addopts",
        {"pytest.ini": ini + "addopts = -m slow -p no:cacheprovider\n",
         **{f"test_{m}.py": sleepy_body for m in "abcd"}},
    )  # fmt: skip
    return [
        Case("tiny", tiny, []),
        Case("trivial 2000", many, []),
        Case("trivial -k", many, ["-k", "test_1 and test_05"]),
        Case("sleepy 240x20ms", sleepy, []),
        Case("sleepy --deselect", sleepy, ["--deselect", "test_a.py::test_1"]),
        Case("sleepy -m slow", sleepy, ["-m", "slow"]),
        Case("sleepy path", sleepy, ["test_a.py"]),
        Case("sleepy node ids", sleepy, ["test_a.py::test_1", "test_b.py::test_2"]),
        Case("sleepy PYTEST_ADDOPTS", sleepy, [], {"PYTEST_ADDOPTS": "-k 'test_1 or test_2'"}),
        Case("ini addopts -m slow", addopts, []),
        Case("cpu 80x", cpu, []),
        Case("cpu -p no:randomly", cpu, ["-p", "no:randomly"]),
    ]


def real(click: Path | None, attrs: Path | None) -> list[Case]:
    cases = []
    if click is not None:
        cases += [
            Case("click", click, []),
            Case("click --deselect", click,
                 ["--deselect", "tests/test_basic.py::test_basic_functionality"]),
            Case("click path", click, ["tests/test_options.py"]),
        ]  # fmt: skip
    if attrs is not None:
        cases += [Case("attrs", attrs, []), Case("attrs -k slots", attrs, ["-k", "slots"])]
    return cases


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


_CHOSEN = re.compile(r"^hotlap: -n (\d+):", re.MULTILINE)


def timed(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float, str]:
    """(wall, process-tree CPU, hotlap's -n or "") of one run; pytest's 0 or 1 is fine."""
    cpu0, t0 = _children_cpu(), time.monotonic()
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    wall, cpu = time.monotonic() - t0, _children_cpu() - cpu0
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(argv)} -> {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    chosen = _CHOSEN.search(proc.stderr)
    return wall, cpu, chosen.group(1) if chosen else ""


VARIANTS = ("n0", "n2", "again", "hotlap", "h0", "h2")


def _ratio(values: list[float], bases: list[float]) -> float:
    return statistics.median(v / b for v, b in zip(values, bases, strict=True))


def run_case(case: Case, python: str, rounds: int) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOTLAP_", "PYTEST_"))}
    env.update(case.env)
    pytest = [python, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    hotlap = [python, "-m", "hotlap", "run", "--headless", "--", "-q", "-p", "no:cacheprovider"]
    cmds = {
        "n0": [*pytest, "-n", "0", *case.args],
        "n2": [*pytest, "-n", "2", *case.args],
        "hotlap": [*hotlap, *case.args],
        "h0": [*hotlap, "-n", "0", *case.args],
        "h2": [*hotlap, "-n", "2", *case.args],
    }
    for _ in range(2):
        timed(cmds["hotlap"], case.root, env)
    first = {v: timed(cmds[v], case.root, env)[0] for v in ("n0", "n2")}
    better = min(first, key=first.__getitem__)
    cmds["again"] = cmds[better]
    walls: dict[str, list[float]] = {v: [] for v in VARIANTS}
    cpus: dict[str, list[float]] = {v: [] for v in VARIANTS}
    chose = []
    for r in range(rounds):
        k = r % len(VARIANTS)
        for v in VARIANTS[k:] + VARIANTS[:k]:
            wall, cpu, n = timed(cmds[v], case.root, env)
            walls[v].append(wall)
            cpus[v].append(cpu)
            if v == "hotlap":
                chose.append(n or "?")
    plain_best = [min(a, b) for a, b in zip(walls["n0"], walls["n2"], strict=True)]
    plain_cpu = [
        cpus["n0"][i] if walls["n0"][i] <= walls["n2"][i] else cpus["n2"][i] for i in range(rounds)
    ]
    own_best = [min(a, b) for a, b in zip(walls["h0"], walls["h2"], strict=True)]
    return {
        "walls": {v: statistics.median(walls[v]) for v in VARIANTS},
        "goal": _ratio(walls["hotlap"], plain_best),
        "goal_cpu": _ratio(cpus["hotlap"], plain_cpu),
        "choice": _ratio(walls["hotlap"], own_best),
        "floor": _ratio(walls["again"], walls[better]),
        "chose": " ".join(chose),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--python", default=sys.executable, help="interpreter with hotlap")
    parser.add_argument("--click", type=Path, help="an unpacked click sdist (installed)")
    parser.add_argument("--attrs", type=Path, help="an unpacked attrs sdist (installed)")
    parser.add_argument("--only", nargs="*", help="case names to run (substrings)")
    parser.add_argument("--no-synthetic", action="store_true")
    ns = parser.parse_args(argv)
    base = Path(tempfile.mkdtemp(prefix="hotlap-workers-"))
    cases = ([] if ns.no_synthetic else synthetic(base)) + real(ns.click, ns.attrs)
    if ns.only:
        cases = [c for c in cases if any(o in c.name for o in ns.only)]
    print(f"{ns.rounds} rounds per case; load {os.getloadavg()[0]:.2f}; cores {os.cpu_count()}")
    print(
        f"{'case':24} {'n0':>6} {'n2':>6} {'h0':>6} {'h2':>6} {'hotlap':>6}"
        f" {'goal':>6} {'floor':>6} {'choice':>6} {'cpu':>6}  -n per round"
    )
    for case in cases:
        r = run_case(case, ns.python, ns.rounds)
        w: dict[str, float] = r["walls"]  # type: ignore[assignment]
        print(
            f"{case.name:24} {w['n0']:5.2f}s {w['n2']:5.2f}s {w['h0']:5.2f}s {w['h2']:5.2f}s"
            f" {w['hotlap']:5.2f}s {r['goal']:6.3f} {r['floor']:6.3f} {r['choice']:6.3f}"
            f" {r['goal_cpu']:6.3f}  {r['chose']}",
            flush=True,
        )
    print(
        "walls: medians. goal: hotlap (no -n) over the better of plain -n 0 / -n 2 of its"
        " round (median of rounds); floor: that better plain command run again, over itself;"
        " choice: hotlap (no -n) over the better of hotlap -n 0 / -n 2 (the choice alone,"
        " without hotlap's own cost); cpu: process-tree CPU, as goal"
    )
    print(f"load at the end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
