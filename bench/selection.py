"""Impact selection against the truth: recall and tests selected per kind of edit.

For each project (real suites at pinned versions, from their sdists): one recorded
``hotlap run``, then random single edits of each kind (function body, module constant, class
attribute, default argument, decorator argument, ``__init__`` re-export, a fixture in a
conftest, ``pytest_generate_tests``, a data file, a comment). After each edit,
``hotlap affected --json`` says what would run, and a full plain ``pytest`` run says what
fails (the ground truth; a failing test that was not selected is run again, twice, edit in
place, and counted flaky, not missed, when it then passes); the edit is then undone. Printed
per kind: edits, failing tests, recall (failing tests selected / failing tests), mean tests
selected, against run-all; and what ``hotlap affected`` cost (wall and CPU time).

Neither click nor attrs has a ``pytest_generate_tests`` or a data file its tests read: the
setup adds one of each to the copy under test (``tests/conftest.py`` gets a hook that
parametrizes ``bench_case``, ``tests/test_bench_extras.py`` uses it and reads
``tests/bench_data.json``), recorded with the rest.

    python bench/selection.py                       # click and attrs, 24 edits each
    python bench/selection.py --edits 6 --projects click --work /tmp/sel
    python bench/selection.py --cost 7 --projects click   # only what hotlap affected costs

``--cost N`` measures only ``hotlap affected`` after one-line edits: N random edits of each of
four kinds (function body, module constant, class attribute, default argument), each applied
and then undone, ``hotlap affected`` run after each (2N one-line changes per kind, each seen
once, as watch mode sees a save; impact data and bytecode caches warm); printed per kind: the
median wall and CPU time of the whole command, beside those of an interpreter that does
nothing and of ``hotlap --version``.

It makes a virtualenv in the work directory (hotlap from this checkout, pytest, xdist, the
projects' test dependencies) and downloads the sdists with ``pip download`` unless
``--suites DIR`` holds them. Expect ~1 min per edit per project on 2 cores.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import textwrap
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

HOTLAP = Path(__file__).resolve().parent.parent
PROJECTS = {
    "click": ("click==8.5.1", "click", []),
    "attrs": ("attrs==26.1.0", "attr", ["hypothesis", "pympler", "cloudpickle"]),
}
KINDS = [
    "function body",
    "module constant",
    "class attribute",
    "default argument",
    "decorator argument",
    "__init__ re-export",
    "conftest fixture",
    "pytest_generate_tests",
    "data file",
    "comment",
]
PYTEST_ARGS = ["-p", "no:cacheprovider", "-n", "2"]

GENERATE_HOOK = """

def pytest_generate_tests(metafunc):
    # added by hotlap's bench/selection.py
    if "bench_case" in metafunc.fixturenames:
        metafunc.parametrize("bench_case", [1, 2])
"""
EXTRAS = """
    # added by hotlap's bench/selection.py
    import json
    from pathlib import Path

    HERE = Path(__file__).parent


    def test_bench_case(bench_case):
        assert bench_case < 3


    def test_bench_data():
        data = json.loads((HERE / "bench_data.json").read_text())
        assert data["limit"] < 10


    def test_bench_plain():
        assert True
    """


@dataclass
class Edit:
    """One single edit: a line of a file replaced."""

    kind: str
    rel: str
    line: int  # 1-based
    new_line: str

    def describe(self) -> str:
        return f"{self.kind}: {self.rel}:{self.line}: {self.new_line.strip()[:70]}"


def run(cmd: list[str], cwd: Path, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    # As users run it: bytecode caches allowed (PYTHONDONTWRITEBYTECODE recompiles every
    # module of hotlap and of the project on each command).
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("HOTLAP_", "PYTEST_")) and k != "PYTHONDONTWRITEBYTECODE"
    }
    return subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


# -- setup ----------------------------------------------------------------------------------
def sdist(spec: str, suites: Path) -> Path:
    name, version = spec.split("==")
    for candidate in suites.glob(f"{name}-{version}.tar.gz"):
        return candidate
    suites.mkdir(parents=True, exist_ok=True)
    done = run(
        [sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps",
         "-d", str(suites), spec],
        suites,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"pip download {spec} failed:\n{done.stderr}")
    return next(suites.glob(f"{name}-{version}.tar.gz"))


def prepare(name: str, work: Path, suites: Path, python: Path) -> Path:
    spec, _module, deps = PROJECTS[name]
    target = work / name
    if target.exists():
        shutil.rmtree(target)
    with tarfile.open(sdist(spec, suites)) as tar:
        top = tar.getnames()[0].split("/")[0]
        tar.extractall(work, filter="data")
    (work / top).rename(target)
    conftest = target / "tests" / "conftest.py"
    conftest.write_text(conftest.read_text() + GENERATE_HOOK)
    (target / "tests" / "test_bench_extras.py").write_text(textwrap.dedent(EXTRAS).lstrip())
    (target / "tests" / "bench_data.json").write_text('{"limit": 5}\n')
    done = run([str(python), "-m", "pip", "install", "-q", "--no-deps", "-e", str(target)], work)
    if done.returncode != 0:
        raise SystemExit(f"installing {name} failed:\n{done.stderr}")
    if deps:
        run([str(python), "-m", "pip", "install", "-q", *deps], work)
    return target


def venv(work: Path) -> Path:
    python = work / "venv" / "bin" / "python"
    if not python.exists():
        run([sys.executable, "-m", "venv", str(work / "venv")], work)
        done = run(
            [str(python), "-m", "pip", "install", "-q", "-e", str(HOTLAP), "pytest",
             "pytest-xdist"],
            work,
        )  # fmt: skip
        if done.returncode != 0:
            raise SystemExit(f"venv failed:\n{done.stderr}")
    return python


# -- edits ----------------------------------------------------------------------------------
def _mutate(value: object) -> str | None:
    if isinstance(value, bool):
        return repr(not value)
    if isinstance(value, int):
        return repr(value + 1)
    if isinstance(value, float):
        return repr(value * 2 + 1)
    if isinstance(value, str) and value and "\n" not in value and len(value) < 60:
        return repr(value + "_")
    return None


def _constant_site(kind: str, rel: str, lines: list[str], node: ast.Constant) -> Edit | None:
    if node.lineno != node.end_lineno or node.end_col_offset is None:
        return None
    new = _mutate(node.value)
    text = lines[node.lineno - 1]
    start, end = node.col_offset, node.end_col_offset
    # Positions are in UTF-8 bytes: only ASCII lines are spliced.
    if new is None or not text.isascii():
        return None
    return Edit(kind, rel, node.lineno, text[:start] + new + text[end:])


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        first = body[0] if isinstance(body, list) and body else None
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
            found.add(id(first.value))
    return found


def sites(root: Path, package: str) -> dict[str, list[Edit]]:
    """Every candidate edit, by kind."""
    found: dict[str, list[Edit]] = defaultdict(list)
    src = [p for p in (root / "src" / package).rglob("*.py")]
    tests = [p for p in (root / "tests").rglob("*.py")]
    for path in src + tests:
        rel = path.relative_to(root).as_posix()
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        try:
            tree = ast.parse(text)
        except SyntaxError:
            continue
        docs = _docstrings(tree)
        in_src = path in src
        fstrings = {id(n) for j in ast.walk(tree) if isinstance(j, ast.JoinedStr)
                    for n in ast.walk(j)}  # fmt: skip

        def consts(
            nodes: list[ast.AST], docs: set[int] = docs, fstrings: set[int] = fstrings
        ) -> list[ast.Constant]:
            return [
                n
                for node in nodes
                for n in ast.walk(node)
                if isinstance(n, ast.Constant) and id(n) not in docs and id(n) not in fstrings
            ]

        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                defaults = [*node.args.defaults, *(d for d in node.args.kw_defaults if d)]
                fixture = any("fixture" in ast.unparse(d) for d in node.decorator_list)
                if in_src:
                    for c in consts(node.body):
                        found["function body"].append(
                            _constant_site("function body", rel, lines, c)
                        )
                    for c in consts(defaults):
                        found["default argument"].append(
                            _constant_site("default argument", rel, lines, c)
                        )
                for c in consts(node.decorator_list):
                    found["decorator argument"].append(
                        _constant_site("decorator argument", rel, lines, c)
                    )
                if fixture and path.name == "conftest.py":
                    for c in consts([*node.body, *node.decorator_list]):
                        found["conftest fixture"].append(
                            _constant_site("conftest fixture", rel, lines, c)
                        )
                    first = node.body[0]
                    indent = " " * first.col_offset
                    found["conftest fixture"].append(
                        Edit("conftest fixture", rel, first.lineno,
                             f"{indent}_bench = 0\n{lines[first.lineno - 1]}")
                    )  # fmt: skip
                if node.name == "pytest_generate_tests":
                    for c in consts(node.body):
                        if isinstance(c.value, int) and not isinstance(c.value, bool):
                            found["pytest_generate_tests"].append(
                                _constant_site("pytest_generate_tests", rel, lines, c)
                            )
            elif isinstance(node, ast.ClassDef) and in_src:
                for stmt in node.body:
                    if isinstance(stmt, (ast.Assign, ast.AnnAssign)) and stmt.value is not None:
                        for c in consts([stmt.value]):
                            found["class attribute"].append(
                                _constant_site("class attribute", rel, lines, c)
                            )
        if in_src:
            for stmt in tree.body:
                if isinstance(stmt, (ast.Assign, ast.AnnAssign)) and stmt.value is not None:
                    targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                    names = [t.id for t in targets if isinstance(t, ast.Name)]
                    if names and names[0] != "__all__":
                        for c in consts([stmt.value]):
                            found["module constant"].append(
                                _constant_site("module constant", rel, lines, c)
                            )
                if (
                    path.name == "__init__.py"
                    and isinstance(stmt, ast.ImportFrom)
                    and stmt.lineno == stmt.end_lineno
                    and stmt.level
                    and len(stmt.names) == 1
                ):
                    line = "# " + lines[stmt.lineno - 1]
                    found["__init__ re-export"].append(
                        Edit("__init__ re-export", rel, stmt.lineno, line)
                    )
            for stmt in tree.body[1:]:
                found["comment"].append(
                    Edit("comment", rel, stmt.lineno, f"# bench\n{lines[stmt.lineno - 1]}")
                )
    data = root / "tests" / "bench_data.json"
    for value in (4, 9, 10, 12, 5):
        found["data file"].append(
            Edit("data file", data.relative_to(root).as_posix(), 1, f'{{"limit": {value}}}')
        )
    return {k: [e for e in v if e is not None] for k, v in found.items()}


def apply(root: Path, edit: Edit) -> bytes:
    path = root / edit.rel
    original = path.read_bytes()
    lines = original.decode("utf-8").split("\n")
    lines[edit.line - 1] = edit.new_line
    path.write_text("\n".join(lines), encoding="utf-8")
    return original


# -- one edit ---------------------------------------------------------------------------------
def failing(python: Path, root: Path) -> tuple[set[str], int]:
    """(nodeids that fail or error in a full plain run, tests run)."""
    done = run([str(python), "-m", "pytest", "-q", "-rfE", *PYTEST_ARGS], root)
    bad = set()
    for line in done.stdout.splitlines():
        m = re.match(r"^(FAILED|ERROR) (\S+?)(?: - .*)?$", line)
        if m:
            bad.add(m.group(2))
    counts = re.findall(r"(\d+) (passed|failed|error|errors|skipped|xfailed|xpassed)",
                        done.stdout.splitlines()[-1] if done.stdout else "")  # fmt: skip
    return bad, sum(int(n) for n, _ in counts)


def passes_alone(python: Path, root: Path, nodeid: str) -> bool:
    """Whether ``nodeid`` passes when run again on its own, twice."""
    for _ in range(2):
        done = run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", nodeid], root)
        if done.returncode != 0:
            return False
    return True


def affected(python: Path, root: Path) -> tuple[dict[str, object], float, float]:
    """(what ``hotlap affected --json`` says, its wall time, its CPU time)."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = run([str(python), "-m", "hotlap", "affected", "--json", *PYTEST_ARGS[:2]], root)
    took = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    if done.returncode != 0:
        raise SystemExit(f"hotlap affected failed:\n{done.stderr}")
    return json.loads(done.stdout), took, cpu


def covers(entries: list[str], nodeid: str) -> bool:
    file = nodeid.split("::", 1)[0]
    for e in entries:
        if nodeid == e or nodeid.startswith((e + "::", e + "[")):
            return True
        if "::" not in e and (file == e or file.startswith(e.rstrip("/") + "/")):
            return True
        if e.startswith(nodeid + "::") or ("::" not in nodeid and e.split("::", 1)[0] == nodeid):
            return True  # a collection error in a file or class some selected test is in
    return False


def bench(
    name: str, work: Path, suites: Path, edits: int, seed: int, kinds: list[str] | None = None
) -> list[dict[str, object]]:
    python = venv(work)
    root = prepare(name, work, suites, python)
    _spec, package, _deps = PROJECTS[name]
    collected = run([str(python), "-m", "pytest", "--co", "-q", *PYTEST_ARGS[:2]], root)
    all_ids = [ln for ln in collected.stdout.splitlines() if "::" in ln]
    record = run([str(python), "-m", "hotlap", "run", "--headless", "--no-history", "--",
                  *PYTEST_ARGS], root)  # fmt: skip
    print(f"{name}: {len(all_ids)} tests; recorded ({record.stdout.strip().splitlines()[-1]})")
    baseline, _ = failing(python, root)
    # Nothing edited yet: a full run here (no data recorded, an invalidator fired) would make
    # every edit a full run and the recall meaningless. (What it selects now, a test that
    # fails in this environment, is selected after every edit too.)
    start, _took, _cpu = affected(python, root)
    if start["full_run"]:
        raise SystemExit(f"{name}: after the recorded run, hotlap affected says: {start['reason']}")
    print(f"  before any edit: {len(start['tests'])} selected ({start['reason']})", flush=True)
    candidates = sites(root, package)
    rng = random.Random(seed)
    results = []
    for i in range(edits):
        kind = (kinds or KINDS)[i % len(kinds or KINDS)]
        options = candidates.get(kind) or []
        if not options:
            continue
        edit = rng.choice(options)
        original = apply(root, edit)
        try:
            ast.parse((root / edit.rel).read_bytes()) if edit.rel.endswith(".py") else None
            data, took, cpu = affected(python, root)
            bad, _ran = failing(python, root)
            bad -= baseline
            if data["full_run"]:
                print(f"  full run: {data['reason']}", flush=True)
                entries = ["."]
                chosen = len(all_ids)
            else:
                entries = [t["nodeid"] for t in data["tests"]]  # type: ignore[index]
                chosen = sum(1 for n in all_ids if covers(entries, n))
            missed = sorted(n for n in bad if not (data["full_run"] or covers(entries, n)))
            # A missed test that passes when run again, edit still in place, is flaky (a
            # hypothesis deadline on a loaded machine, an order dependence): not a miss.
            flaky = sorted(n for n in missed if passes_alone(python, root, n))
            missed = [n for n in missed if n not in flaky]
        except SyntaxError:
            continue
        finally:
            (root / edit.rel).write_bytes(original)
        bad -= set(flaky)
        results.append({
            "project": name, "kind": kind, "edit": edit.describe(), "failing": len(bad),
            "caught": len(bad) - len(missed), "missed": missed, "flaky": flaky,
            "selected": chosen, "entries": entries, "reason": data["reason"],
            "total": len(all_ids), "affected_s": took, "affected_cpu_s": cpu,
        })  # fmt: skip
        mark = "MISSED " + ", ".join(missed) if missed else "ok"
        if flaky:
            mark += "; flaky, passed when run again: " + ", ".join(flaky)
        print(f"  {edit.describe()}: {len(bad)} failing, {chosen} selected, "
              f"affected {took * 1000:.0f} ms ({cpu * 1000:.0f} ms CPU) [{mark}]",
              flush=True)  # fmt: skip
    return results


def _timed(cmd: list[str], root: Path) -> tuple[float, float, str]:
    """(wall, CPU seconds, stdout) of ``cmd`` run to its end (the CPU of its process tree)."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = run(cmd, root)
    took = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr}")
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return took, cpu, done.stdout


COST_KINDS = ["function body", "module constant", "class attribute", "default argument"]


def cost(name: str, work: Path, suites: Path, edits: int, seed: int) -> None:
    """Print what ``hotlap affected`` costs after a one-line edit (see ``--cost``)."""
    python = venv(work)
    root = prepare(name, work, suites, python)
    _spec, package, _deps = PROJECTS[name]
    record = run([str(python), "-m", "hotlap", "run", "--headless", "--no-history", "--",
                  *PYTEST_ARGS], root)  # fmt: skip
    tests = re.findall(r"recorded dependencies of (\d+) tests", record.stdout + record.stderr)
    rng = random.Random(seed)
    candidates = sites(root, package)
    command = [str(python), "-m", "hotlap", "affected", "--json", *PYTEST_ARGS[:2]]
    _timed(command, root)  # bytecode caches; merges the recorded run
    floor = [_timed([str(python), "-c", "pass"], root)[:2] for _ in range(5)]
    version = [_timed([str(python), "-m", "hotlap", "--version"], root)[:2] for _ in range(5)]

    def ms(values: list[float]) -> str:
        return f"{statistics.median(values) * 1000:.0f} ms"

    print(f"{name}: {tests[0] if tests else '?'} tests recorded; hotlap affected per one-line "
          f"change ({edits} edits of each kind, each then undone: {2 * edits} changes), "
          f"median wall / CPU:")  # fmt: skip
    every: list[tuple[float, float]] = []
    for kind in COST_KINDS:
        samples: list[tuple[float, float]] = []
        selected: list[str] = []
        for edit in rng.sample(candidates[kind], min(edits, len(candidates[kind]))):
            original = apply(root, edit)
            try:
                took, cpu, out = _timed(command, root)
            finally:
                (root / edit.rel).write_bytes(original)
            samples.append((took, cpu))
            data = json.loads(out)
            selected.append("all" if data["full_run"] else str(len(data["tests"])))
            samples.append(_timed(command, root)[:2])  # the undo: one more changed line
        every += samples
        print(f"  {kind:18} {ms([w for w, _ in samples]):>7} / {ms([c for _, c in samples]):>7}"
              f"  (CPU max {max(c for _, c in samples) * 1000:.0f} ms; entries selected "
              f"{', '.join(selected)})")  # fmt: skip
    print(f"  {'all':18} {ms([w for w, _ in every]):>7} / {ms([c for _, c in every]):>7}")
    print(f"  'python -c pass' {ms([w for w, _ in floor])} / {ms([c for _, c in floor])}; "
          f"'hotlap --version' {ms([w for w, _ in version])} / {ms([c for _, c in version])}; "
          f"load {os.getloadavg()[0]:.1f}", flush=True)  # fmt: skip


def table(results: list[dict[str, object]]) -> None:
    by_kind: dict[str, list[dict[str, object]]] = defaultdict(list)
    for r in results:
        by_kind[str(r["kind"])].append(r)
    print(f"\n{'kind':24} {'edits':>5} {'failing':>8} {'recall':>8} {'mean sel':>9} {'run-all':>8}")
    for kind in KINDS:
        rows = by_kind.get(kind, [])
        if not rows:
            continue
        fail = sum(int(r["failing"]) for r in rows)  # type: ignore[call-overload]
        caught = sum(int(r["caught"]) for r in rows)  # type: ignore[call-overload]
        recall = f"{100 * caught / fail:.0f} %" if fail else "-"
        mean = statistics.mean(int(r["selected"]) for r in rows)  # type: ignore[call-overload]
        total = statistics.mean(int(r["total"]) for r in rows)  # type: ignore[call-overload]
        print(f"{kind:24} {len(rows):5} {fail:8} {recall:>8} {mean:9.1f} {total:8.0f}")
    fail = sum(int(r["failing"]) for r in results)  # type: ignore[call-overload]
    caught = sum(int(r["caught"]) for r in results)  # type: ignore[call-overload]
    sel = sum(int(r["selected"]) for r in results)  # type: ignore[call-overload]
    total = sum(int(r["total"]) for r in results)  # type: ignore[call-overload]
    print(f"{'all':24} {len(results):5} {fail:8} "
          f"{(100 * caught / fail if fail else 100):7.0f} % {sel / max(1, len(results)):9.1f} "
          f"{total / max(1, len(results)):8.0f}")  # fmt: skip
    times = sorted(float(r["affected_s"]) for r in results)  # type: ignore[arg-type]
    cpus = sorted(float(r["affected_cpu_s"]) for r in results)  # type: ignore[arg-type]
    if times:
        print(
            f"hotlap affected: wall median {statistics.median(times) * 1000:.0f} ms, max "
            f"{times[-1] * 1000:.0f} ms; CPU median {statistics.median(cpus) * 1000:.0f} ms, "
            f"max {cpus[-1] * 1000:.0f} ms (the whole command, per edit; load "
            f"{os.getloadavg()[0]:.1f})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--projects", nargs="+", default=list(PROJECTS), choices=PROJECTS)
    parser.add_argument("--edits", type=int, default=24, help="edits per project")
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument(
        "--kinds", nargs="+", choices=KINDS, default=None, help="only these kinds of edit"
    )
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--suites", type=Path, default=None, help="where the sdists are")
    parser.add_argument(
        "--cost", type=int, default=0, metavar="N",
        help="only measure hotlap affected after N one-line edits (each undone) per project",
    )  # fmt: skip
    ns = parser.parse_args()
    work = ns.work or Path(tempfile.mkdtemp(prefix="hotlap-selection-"))
    work.mkdir(parents=True, exist_ok=True)
    suites = ns.suites or work / "sdists"
    print(f"work directory: {work}; load: {os.getloadavg()[0]:.1f}")
    if ns.cost:
        for name in ns.projects:
            cost(name, work, suites, ns.cost, ns.seed)
        return
    results = []
    for name in ns.projects:
        results += bench(name, work, suites, ns.edits, ns.seed, ns.kinds)
    table(results)
    (work / "results.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
