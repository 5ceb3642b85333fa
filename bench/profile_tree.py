"""Where hotlap's time goes: CPU per process of the tree, per test, and cProfile of each process.

Two kinds of figures, on a real suite set up by ``bench/suites.py`` (``--suite click``) or on
generated trivial tests (``--trivial``, several sizes so fixed costs and per-test costs can be
told apart):

``cpu`` (default): each variant run ``--repeat`` times, alternating, without any profiler;
every process of the tree sampled from ``/proc`` (``bench/proctree.py``: the app's own CPU is
exact, the others lose at most ~10 ms each). Prints, per variant, the median CPU seconds of
the app, the pytest controller (or lone pytest) and the workers, and the total of the tree
(``RUSAGE_CHILDREN``). With two or more ``--sizes`` of the trivial suite it prints the
per-test slope of each column (the difference between sizes over the difference in tests),
which is free of start-up costs: ``plain`` (``-n 2``) minus ``plain0`` (``-n 0``) is the
xdist floor, what xdist's own per-test traffic costs; ``hotlap`` minus ``plain`` is hotlap's.

``--profile``: each variant run once more under cProfile in every process (the app through
``bench/profiling/hotlap_bench_app.py``, pytest's processes through the
``hotlap_bench_profile`` plugin, loaded by ``PYTEST_PLUGINS`` so no command line changes), and
for each process: its profiled total, the time under hotlap's own functions entered from
outside hotlap (hooks, marker helpers, threads: inclusive of the library calls they make),
the top hotlap entry points, the top non-hotlap functions hotlap calls, and the top hotlap
functions by own time, with microseconds per test. cProfile slows call-heavy code several
fold: read its figures as shares, and the ``cpu`` figures for absolute cost.

    .venv/bin/python bench/suites.py --setup-only --suites click     # the venv and the project
    nice .venv/bin/python bench/profile_tree.py --trivial --sizes 400 2000 --repeat 5
    nice .venv/bin/python bench/profile_tree.py --suite click --repeat 5 --profile
"""

from __future__ import annotations

import argparse
import json
import os
import pstats
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import proctree
from suites import (
    SUITES,
    clear_pycache,
    clear_rewritten,
    default_cache,
    hotlap_only_plugins,
    outcome,
    run_env,
)

BENCH = Path(__file__).resolve().parent
PROFILING = BENCH / "profiling"

VARIANTS = ("plain0", "plain", "hotlap", "hotlap-bare", "plugin", "hotlap0")


def generate_suite(root: Path, files: int, tests: int) -> None:
    """As bench/overhead.py: ``files`` modules of ``tests`` trivial tests each."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "pytest.ini").write_text("[pytest]\n")
    for f in range(files):
        body = ["from __future__ import annotations", ""]
        for t in range(tests):
            body += ["", f"def test_{t}() -> None:", f"    assert {t} == {t}", ""]
        (root / f"test_gen_{f:02d}.py").write_text("\n".join(body))


def commands(
    python: str, work: Path, workers: str, profile: bool, blocked: list[str]
) -> dict[str, list[str]]:
    """``blocked``: the plugins plain pytest runs without (hotlap's and its dependencies')."""
    no = [a for name in blocked for a in ("-p", f"no:{name}")]
    bindir = Path(python).parent
    hotlap = [str(bindir / "hotlap")]
    if profile:
        hotlap = [python, str(PROFILING / "hotlap_bench_app.py")]
    common = ["-p", "no:cacheprovider"]
    return {
        "plain0": [python, "-m", "pytest", "-n", "0", *common, *no],
        "plain": [python, "-m", "pytest", "-n", workers, *common, *no],
        "hotlap": [*hotlap, "run", "--headless", "--", "-n", workers, *common],
        "hotlap-bare": [
            *hotlap,
            "run",
            "--headless",
            "--no-impact",
            "--no-history",
            "--",
            "-n",
            workers,
            *common,
        ],
        "plugin": [
            python,
            "-m",
            "pytest",
            "-p",
            "hotlap",
            f"--hotlap-json={work / 'r.json'}",
            "-n",
            workers,
            *common,
        ],
        "hotlap0": [*hotlap, "run", "--headless", "--", "-n", "0", *common],
    }


def roles(result: proctree.RunResult) -> dict[str, float]:
    """CPU seconds by role: app, pytest (the controller or lone pytest), workers, each worker."""
    out: dict[str, float] = defaultdict(float)
    for label, proc in proctree.label_tree(result.tree):
        if label.startswith("worker"):
            out["workers"] += proc.cpu
            out[label] += proc.cpu
        elif label in ("app", "pytest"):
            out[label] += proc.cpu
        else:
            out["other"] += proc.cpu
    out["total"] = result.cpu
    return out


def cpu_mode(
    projects: list[tuple[str, Path, int]],
    python: str,
    variants: list[str],
    repeat: int,
    bytecode: bool,
    workers: str,
    work: Path,
    blocked: list[str],
) -> None:
    cmds = commands(python, work, workers, False, blocked)
    env = run_env(bytecode)
    print("commands (cwd = the project):")
    for name in variants:
        print(f"  {name:11} {' '.join(cmds[name])}")
    results: dict[tuple[str, str], list[dict[str, float]]] = defaultdict(list)
    walls: dict[tuple[str, str], list[float]] = defaultdict(list)
    tests: dict[str, int] = {}
    for label, project, _ in projects:
        if not bytecode:
            clear_pycache(project)
            clear_rewritten(Path(python).parent.parent)
        for name in variants:  # warm-up
            r = proctree.run(cmds[name], project, env, sample=True)
            tests[label] = sum(v for k, v in outcome(r).counts.items() if k in _TEST_WORDS)
            line = outcome(r).line
            print(f"  warm-up {label} {name:11} {r.wall:6.2f} s  exit {r.returncode}  {line}")
        for i in range(repeat):
            shift = i % len(variants)
            for name in variants[shift:] + variants[:shift]:
                r = proctree.run(cmds[name], project, env, sample=True)
                results[(label, name)].append(roles(r))
                walls[(label, name)].append(r.wall)
    cols = ["app", "pytest", "workers", "total"]
    print(f"\nmedian CPU seconds per process ({repeat} runs; load now {os.getloadavg()[0]:.1f})")
    print(
        f"  {'suite':14} {'variant':11} {'wall':>7} "
        + " ".join(f"{c:>8}" for c in cols)
        + "   each worker"
    )
    med: dict[tuple[str, str], dict[str, float]] = {}
    for label, _, _ in projects:
        for name in variants:
            rows = results[(label, name)]
            keys = sorted({k for row in rows for k in row})
            med[(label, name)] = {
                k: statistics.median(row.get(k, 0.0) for row in rows) for k in keys
            }
            m = med[(label, name)]
            each = " ".join(
                f"{m[k]:.2f}" for k in keys if k.startswith("worker") and k != "workers"
            )
            print(
                f"  {label:14} {name:11} {statistics.median(walls[(label, name)]):6.2f}s "
                + " ".join(f"{m.get(c, 0.0):8.2f}" for c in cols)
                + f"   {each}"
            )
    for label, _, _ in projects:
        n = tests[label]
        if "plain" in variants and n:
            base = med[(label, "plain")]
            print(
                f"\n  {label}: {n} tests; CPU over plain -n {workers}, in ms per test "
                "(the whole run's difference / tests)"
            )
            for name in variants:
                if name == "plain":
                    continue
                m = med[(label, name)]
                print(
                    f"    {name:11} "
                    + " ".join(
                        f"{c} {1000 * (m.get(c, 0.0) - base.get(c, 0.0)) / n:+7.3f}" for c in cols
                    )
                )
    if len(projects) >= 2:
        (small, _, _), (big, _, _) = projects[0], projects[-1]
        dn = tests[big] - tests[small]
        print(
            f"\nper-test slope, ms per test: (CPU at {tests[big]} tests - "
            f"CPU at {tests[small]}) / {dn}"
        )
        slope: dict[str, dict[str, float]] = {}
        for name in variants:
            slope[name] = {
                c: 1000 * (med[(big, name)].get(c, 0.0) - med[(small, name)].get(c, 0.0)) / dn
                for c in cols
            }
            print(f"  {name:11} " + " ".join(f"{c} {slope[name][c]:7.3f}" for c in cols))
        if "plain0" in slope and "plain" in slope:
            print(
                f"  xdist floor (plain -n {workers} - plain0 -n 0): total "
                f"{slope['plain']['total'] - slope['plain0']['total']:+.3f} ms per test "
                f"(controller {slope['plain']['pytest']:.3f}, "
                f"workers {slope['plain']['workers']:.3f} "
                f"vs lone pytest {slope['plain0']['pytest']:.3f})"
            )
        for name in ("hotlap", "hotlap-bare", "plugin"):
            if name in slope and "plain" in slope:
                d = {c: slope[name][c] - slope["plain"][c] for c in cols}
                print(
                    f"  {name} - plain: "
                    + " ".join(f"{c} {d[c]:+.3f}" for c in cols)
                    + " ms per test"
                )
        if "hotlap0" in slope and "plain0" in slope:
            d = {c: slope["hotlap0"][c] - slope["plain0"][c] for c in cols}
            print(
                "  hotlap0 - plain0: " + " ".join(f"{c} {d[c]:+.3f}" for c in cols) + " ms per test"
            )


_TEST_WORDS = ("passed", "failed", "skipped", "xfailed", "xpassed", "errors")


# -- profiles -------------------------------------------------------------------------------

Func = tuple[str, int, str]


def _where(func: Func, hotlap_dir: str) -> str:
    filename, line, name = func
    if filename.startswith(hotlap_dir):
        filename = "hotlap/" + filename[len(hotlap_dir) :].lstrip("/")
    elif "site-packages/" in filename:
        filename = filename.split("site-packages/", 1)[1]
    elif filename == "~":
        return name
    return f"{filename}:{line}({name})"


def analyse(path: Path, meta: dict[str, object], hotlap_dir: str, top: int) -> None:
    st = pstats.Stats(str(path))
    stats = st.stats  # type: ignore[attr-defined]
    total = st.total_tt  # type: ignore[attr-defined]

    def ours(func: Func) -> bool:
        return func[0].startswith(hotlap_dir)

    # The share of a function's inclusive time spent below a hotlap frame (hotlap -> pytest ->
    # hotlap: the inner entry is not counted twice). Estimated from the caller edges pstats
    # keeps (cProfile records no stacks): exact when each caller's share is the same in all
    # its calls.
    inside_memo: dict[Func, float] = {}

    def inside(func: Func, depth: int = 0) -> float:
        if ours(func):
            return 1.0
        if func in inside_memo:
            return inside_memo[func]
        if depth > 30:
            return 0.0
        inside_memo[func] = 0.0  # a cycle counts as outside
        _cc, _nc, _tt, ct, callers = stats[func]
        share = 0.0
        if ct > 0:
            share = sum(v[3] * inside(c, depth + 1) for c, v in callers.items() if c in stats) / ct
        inside_memo[func] = min(1.0, share)
        return inside_memo[func]

    entries: dict[Func, list[float]] = defaultdict(lambda: [0, 0.0])  # calls, inclusive s
    callees: dict[Func, list[float]] = defaultdict(lambda: [0, 0.0])
    own: list[tuple[float, int, Func]] = []
    for func, (_cc, nc, tt, ct, callers) in stats.items():
        if ours(func):
            own.append((tt, nc, func))
            if not callers:  # a thread's or the profile's root
                entries[func][0] += nc
                entries[func][1] += ct
            for c, (_ccc, cnc, _ctt, cct) in callers.items():
                if not ours(c):
                    entries[func][0] += cnc
                    entries[func][1] += cct * (1.0 - inside(c))
        else:
            for c, (_ccc, cnc, _ctt, cct) in callers.items():
                if ours(c):
                    callees[func][0] += cnc
                    callees[func][1] += cct
    inclusive = sum(v[1] for v in entries.values())
    tests = int(meta.get("tests", 0) or 0)  # type: ignore[call-overload]
    per = f", {1e6 * inclusive / tests:.0f} us per test over {tests} tests" if tests else ""
    print(
        f"\n  {meta['role']} (pid {meta['pid']}): profiled {total:.2f} s, under hotlap's functions "
        f"{inclusive:.2f} s ({100 * inclusive / total if total else 0:.0f}%){per}; "
        f"CPU {float(meta.get('cpu', 0)):.2f} s under the profiler"  # type: ignore[arg-type]
    )

    def show(title: str, rows: list[tuple[float, int, Func]]) -> None:
        print(f"    {title}")
        for seconds, calls, func in rows[:top]:
            if seconds < 0.0005:
                break
            pt = f" {1e6 * seconds / tests:8.1f} us/test" if tests else ""
            print(
                f"      {seconds:7.3f} s {calls:>8} calls "
                f"{1e6 * seconds / max(calls, 1):9.1f} us/call"
                f"{pt}  {_where(func, hotlap_dir)}"
            )

    show(
        "hotlap entry points, inclusive (called from outside hotlap):",
        sorted(((v[1], int(v[0]), f) for f, v in entries.items()), reverse=True),
    )
    show(
        "outside code that hotlap calls, inclusive:",
        sorted(((v[1], int(v[0]), f) for f, v in callees.items()), reverse=True),
    )
    show("hotlap functions by own time:", sorted(own, reverse=True))


def profile_mode(
    projects: list[tuple[str, Path, int]],
    python: str,
    variants: list[str],
    bytecode: bool,
    workers: str,
    work: Path,
    top: int,
    blocked: list[str],
    keep: Path | None,
) -> None:
    hotlap_dir = subprocess.run(
        [python, "-c", "import hotlap, os; print(os.path.dirname(hotlap.__file__))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    cmds = commands(python, work, workers, True, blocked)
    warm = commands(python, work, workers, False, blocked)
    for label, project, _ in projects:
        for name in variants:
            out = work / f"prof-{label}-{name}"
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir()
            env = run_env(bytecode)
            env["BENCH_PROFILE_DIR"] = str(out)
            env["PYTEST_PLUGINS"] = "hotlap_bench_profile"
            env["PYTHONPATH"] = str(PROFILING)
            # A warm-up first, unprofiled: history and impact data as in a user's second run.
            proctree.run(warm[name], project, run_env(bytecode))
            if not bytecode:
                clear_pycache(project)
                clear_rewritten(Path(python).parent.parent)
            r = proctree.run(cmds[name], project, env, sample=True)
            line = outcome(r).line
            print(f"\n== profile {label} {name}: exit {r.returncode}, {r.wall:.2f} s, {line}")
            print(f"   {' '.join(cmds[name])}")
            for meta_path in sorted(out.glob("*.json")):
                meta = json.loads(meta_path.read_text())
                if meta["role"] == "app":  # per test: the run's tests
                    counts = outcome(r).counts
                    meta["tests"] = sum(v for k, v in counts.items() if k in _TEST_WORDS)
                    meta_path.write_text(json.dumps(meta))
                analyse(meta_path.with_suffix(".prof"), meta, hotlap_dir, top)
            if r.returncode not in (0, 1):
                print(r.stdout[-2000:], r.stderr[-2000:])
            (out / "hotlap_dir").write_text(hotlap_dir)
            if keep is not None:
                keep.mkdir(parents=True, exist_ok=True)
                shutil.rmtree(keep / out.name, ignore_errors=True)
                shutil.copytree(out, keep / out.name)
        compare(work, label, variants, top)


def _group(func: Func, hotlap_dir: str) -> str:
    """Where a function's own time is charged in the comparison: a hotlap module, a package
    (two levels: ``_pytest/assertion``), a stdlib module, or a builtin by name."""
    filename, _line, name = func
    if filename.startswith(hotlap_dir):
        return "hotlap/" + filename[len(hotlap_dir) :].lstrip("/")
    if filename.startswith("<hotlap"):
        return "hotlap (generated codec)"
    if filename == "~":
        return name.replace("<built-in method ", "<").replace("<method ", "<")
    if "site-packages/" in filename:
        parts = filename.split("site-packages/", 1)[1].split("/")
        return "/".join(parts[:2]) if len(parts) > 2 else parts[0]
    if "/lib/python3" in filename:
        return "stdlib/" + filename.split("/lib/python3", 1)[1].split("/", 2)[1]
    if filename.startswith("<"):
        return filename
    return "project/" + os.path.basename(filename)


def _role_class(role: str) -> str:
    return "workers" if role.startswith("gw") else role


def own_by_group(directory: Path) -> dict[str, dict[str, float]]:
    """Own (exclusive) CPU seconds by group, per role class (app, controller, pytest, workers)."""
    hotlap_dir = (directory / "hotlap_dir").read_text().strip()
    out: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for meta_path in directory.glob("*.json"):
        meta = json.loads(meta_path.read_text())
        stats = pstats.Stats(str(meta_path.with_suffix(".prof"))).stats  # type: ignore[attr-defined]
        role = _role_class(str(meta["role"]))
        for func, (_cc, _nc, tt, _ct, _callers) in stats.items():
            out[role][_group(func, hotlap_dir)] += tt
    return out


def compare(work: Path, label: str, variants: list[str], top: int) -> None:
    """Own time by group in each variant against ``plain``'s, per role class: where the extra
    CPU of a hotlap variant goes, whoever's code spends it (pytest's rewriter or ``ast``
    called by hotlap count as theirs here, and show up as a difference all the same)."""
    base_dir = work / f"prof-{label}-plain"
    if "plain" not in variants or not base_dir.is_dir():
        return
    base = own_by_group(base_dir)
    base_all: dict[str, float] = defaultdict(float)
    for groups in base.values():
        for g, t in groups.items():
            base_all[g] += t
    for name in variants:
        d = work / f"prof-{label}-{name}"
        if name == "plain" or not any(d.glob("*.json")):
            continue
        mine = own_by_group(d)
        print(f"\n== {label}: {name} - plain, own CPU under the profiler by where it is spent")
        everything: dict[str, float] = defaultdict(float)
        for role in sorted(mine):
            for g, t in mine[role].items():
                everything[g] += t
        rows = [(r, mine[r], base.get(r, {})) for r in sorted(mine)]
        for role, groups, ref in [*rows, ("all processes", everything, base_all)]:
            keys = set(groups) | set(ref)
            delta = {g: groups.get(g, 0.0) - ref.get(g, 0.0) for g in keys}
            now, before = sum(groups.values()), sum(ref.values())
            print(f"  {role}: {now:.2f} s vs {before:.2f} s = {now - before:+.2f} s")
            for g, dt in sorted(delta.items(), key=lambda kv: -abs(kv[1]))[:top]:
                if abs(dt) < 0.005:
                    break
                print(f"    {dt:+7.3f} s  {g}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--suite", choices=list(SUITES), help="a suite set up by bench/suites.py")
    what.add_argument("--trivial", action="store_true", help="generated trivial tests")
    what.add_argument(
        "--compare",
        type=Path,
        metavar="DIR",
        help="only compare the profiles kept in DIR (by --keep) with plain's; run nothing",
    )
    parser.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=[400, 2000],
        help="trivial tests per suite (100 per file)",
    )
    parser.add_argument(
        "--variants",
        nargs="+",
        choices=VARIANTS,
        default=["plain0", "plain", "hotlap", "hotlap-bare", "plugin"],
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="also one cProfile'd run each")
    parser.add_argument("--no-cpu", action="store_true", help="only the profiles")
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument("--keep", type=Path, help="copy the profiles (pstats files) here")

    parser.add_argument(
        "--bytecode",
        choices=("on", "off"),
        default="off",
        help="off: PYTHONDONTWRITEBYTECODE=1, no __pycache__ (default)",
    )
    parser.add_argument("--workers", default="2")
    parser.add_argument("--cache", type=Path, default=default_cache())
    parser.add_argument(
        "--python",
        help="interpreter with pytest, xdist and hotlap "
        "(default: the venv bench/suites.py made for the suite, or for click)",
    )
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]

    if args.compare is not None:
        for label in sorted({p.name.split("-")[1] for p in args.compare.glob("prof-*-plain")}):
            names = [p.name.split("-", 2)[2] for p in sorted(args.compare.glob(f"prof-{label}-*"))]
            compare(args.compare, label, names, args.top)
        return 0
    cache = args.cache.expanduser().resolve()
    tag = f"cpython-{sys.version_info[0]}{sys.version_info[1]}"
    suite = SUITES[args.suite or "click"]
    python = args.python or str(cache / "venvs" / tag / suite.name / "bin" / "python")
    if not Path(python).exists():
        print(f"no {python}: run bench/suites.py --setup-only --suites {suite.name} first")
        return 2
    work = Path(tempfile.mkdtemp(prefix="hotlap-prof-"))
    try:
        projects: list[tuple[str, Path, int]] = []
        if args.trivial:
            for size in args.sizes:
                root = work / f"trivial{size}"
                generate_suite(root, max(1, size // 100), min(size, 100))
                projects.append((f"trivial{size}", root, size))
        else:
            prefix = f"{suite.name}_{suite.version}".replace("-", "_").lower()
            (src,) = (
                p
                for p in (cache / "src").iterdir()
                if p.name.lower().replace("-", "_").startswith(prefix)
            )
            projects.append((suite.name, src, 0))
        roots = ["pytest", "pytest-xdist", suite.name, *suite.deps]
        blocked = hotlap_only_plugins(python, [re.split(r"[\[=<>!~; ]", r)[0] for r in roots])
        print(f"python {python}; load average {os.getloadavg()}; bytecode {args.bytecode}")
        print(f"plain pytest runs without the plugins that come with hotlap: {blocked}")
        if not args.no_cpu:
            cpu_mode(
                projects,
                python,
                list(args.variants),
                args.repeat,
                args.bytecode == "on",
                args.workers,
                work,
                blocked,
            )
        if args.profile:
            profile_mode(
                projects,
                python,
                list(args.variants),
                args.bytecode == "on",
                args.workers,
                work,
                args.top,
                blocked,
                args.keep,
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
