"""hotlap mutate against mutmut 3.x on a real project, side by side: mutants, verdicts,
score, wall and CPU time of (a) a full run, (b) a no-op rerun, (c) a rerun after a one-line
edit to one function; the median of ``--rounds`` rounds, each on fresh copies.

    nice python bench/mutate.py [--project shortuuid|ledger] [--rounds 3] [--venv DIR] [--keep]

``shortuuid``: the sdist is fetched with ``pip download --no-binary :all:`` (pinned).
``ledger``: the held-out-style project of ``bench/mutate_ledger.py`` (41 tests: teardown,
import-time and subprocess-run code). Each round copies it twice (one copy per tool: mutmut
writes a ``mutants/`` copy into its tree, hotlap writes only ``.hotlap/``). A venv with pinned
pytest and mutmut and this hotlap (editable) is made once.

Verdicts are compared on the mutants both tools make: the same function with the same
mutated body (both unparsed by ``ast``). Every pair whose verdicts differ is printed with
the change and the tests hotlap ran, for explanation; mutants only one tool makes are
counted by kind, with their verdicts. hotlap needs the impact data of one ``hotlap run``
(timed apart: a hotlap user has it from their last run); mutmut's own stats run is part of
its time. After the edit, hotlap is timed twice from the same state: ``--changed`` (the
edited function's mutants, what mutmut re-tests) and plain ``hotlap mutate`` (also every
mutant whose tests run the edited code: their verdicts may have changed).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import Counter
from pathlib import Path

from mutate_ledger import EDIT, EDIT_FUNCTION, MUTMUT, write_ledger

REPO = Path(__file__).resolve().parent.parent
PINS = ["pytest==9.2.0", "mutmut==3.8.1"]

#: Projects: sdist pin, mutmut's configuration, hotlap's paths, and a one-line edit
#: (file, old, new) that changes one function without breaking its tests.
PROJECTS = {
    "shortuuid": {
        "pin": "shortuuid==1.0.13",
        "mutmut": (
            "\n[tool.mutmut]\n"
            'paths_to_mutate = ["shortuuid/"]\n'
            'do_not_mutate = ["shortuuid/test_shortuuid.py", "shortuuid/django_fields.py"]\n'
            'tests_dir = ["shortuuid/"]\n'
        ),
        "hotlap_paths": ["shortuuid/main.py", "shortuuid/cli.py", "shortuuid/__init__.py"],
        "edit": (
            "shortuuid/main.py",
            "remainder = max(padding - len(output), 0)",
            "remainder = max(0, padding - len(output))",
        ),
        "edit_function": "int_to_string",
    },
    "ledger": {
        "mutmut": MUTMUT,
        "hotlap_paths": ["ledger/"],
        "edit": EDIT,
        "edit_function": EDIT_FUNCTION,
    },
}


def sh(
    argv: list[str], cwd: Path, env: dict[str, str] | None = None, check: bool = True
) -> tuple[subprocess.CompletedProcess[str], float, float]:
    """Run ``argv``: (result, wall seconds, CPU seconds of the children)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if check and proc.returncode not in (0, 1, 2):
        raise SystemExit(
            f"{' '.join(argv)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )
    return proc, wall, cpu


def make_venv(venv: Path) -> Path:
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", *PINS, "-e", str(REPO)], check=True
        )
    return python


def fetch(pin: str, python: Path, into: Path) -> Path:
    into.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "download",
            "-q",
            "--no-binary",
            ":all:",
            "--no-deps",
            pin,
            "-d",
            str(into),
        ],
        check=True,
    )
    archive = next(into.glob("*.tar.gz"))
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    return next(p for p in into.iterdir() if p.is_dir())


def env_for(venv: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOTLAP_", "PYTEST_"))}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


# -- mutant identity -------------------------------------------------------------------------
def body_key(node: ast.AST) -> str:
    assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    body = [s for s in node.body]
    if (
        body
        and isinstance(body[0], ast.Expr)
        and isinstance(getattr(body[0], "value", None), ast.Constant)
    ) and isinstance(body[0].value.value, str):
        body = body[1:]
    return ast.unparse(ast.Module(body=body, type_ignores=[]))


def changed_line(old_body: str, new_body: str) -> tuple[str, str]:
    """The first line that differs between two unparsed bodies (old, new)."""
    import difflib

    old, new = old_body.splitlines(), new_body.splitlines()
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=old, b=new).get_opcodes():
        if op != "equal":
            return (old[i1].strip() if i1 < i2 else "", new[j1].strip() if j1 < j2 else "")
    return ("", "")


def kind_of(old: str, new: str) -> str:
    """A rough name for what a mutant changed, from its line before and after."""
    import re

    if "XX" in new and "XX" not in old:
        return "string XX..XX"
    if new.lower() == old.lower() and new != old:
        return "string case"
    if re.sub(r"\w+", "", old) == re.sub(r"\w+", "", new) and "None" in new:
        return "value -> None"
    if new.count(",") < old.count(","):
        return "argument removed"
    if "None" in new and "None" not in old:
        return "argument/value -> None"
    if new.startswith("if True") or new.startswith("if False") or " if True " in new:
        return "condition -> True/False"
    if new == "pass":
        return "call removed"
    if re.sub(r"\d+", "N", old) == re.sub(r"\d+", "N", new):
        return "number"
    if re.sub(r"'[^']*'|\"[^\"]*\"", "S", old) == re.sub(r"'[^']*'|\"[^\"]*\"", "S", new):
        return "string"
    return "operator/other"


#: mutmut mutant name -> (changed line before, after), filled by mutmut_mutants.
MM_LINES: dict[str, tuple[str, str]] = {}


def mutmut_mutants(root: Path) -> dict[str, tuple[str, str, str]]:
    """mutmut's mutants: name -> (file, function qualname, mutated body key), and status."""
    found = {}
    for meta in (root / "mutants").rglob("*.py.meta"):
        source_file = meta.with_suffix("")
        rel = source_file.relative_to(root / "mutants").as_posix()
        tree = ast.parse(source_file.read_text(encoding="utf-8"))
        originals = {
            n.name.rpartition("__mutmut_")[0]: body_key(n)
            for n in ast.walk(tree)
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
            and n.name.endswith("__mutmut_orig")
        }
        for node in ast.walk(tree):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            name = node.name
            if "__mutmut_" not in name or name.endswith("__mutmut_orig"):
                continue
            base, _, _number = name.rpartition("__mutmut_")
            qual = base[2:] if base.startswith("x_") else base.lstrip("xǁ").replace("ǁ", ".")
            module = rel[:-3].replace("/", ".")
            found[f"{module}.{name}"] = (rel, qual, body_key(node))
            MM_LINES[f"{module}.{name}"] = changed_line(originals.get(base, ""), body_key(node))
    return found


def mutmut_statuses(root: Path) -> dict[str, str]:
    codes = {
        1: "killed",
        3: "killed",
        0: "survived",
        5: "no_tests",
        33: "no_tests",
        36: "timeout",
        -24: "timeout",
        24: "timeout",
        152: "timeout",
        255: "timeout",
    }
    out = {}
    for meta in (root / "mutants").rglob("*.py.meta"):
        data = json.loads(meta.read_text(encoding="utf-8"))
        for key, code in data.get("exit_code_by_key", {}).items():
            out[key] = codes.get(code, f"exit {code}") if code is not None else "not checked"
    return out


def hotlap_keys(root: Path, report: dict) -> dict[str, tuple[str, str, str]]:
    sys.path.insert(0, str(REPO / "src"))
    from hotlap.mutate.operators import block_nodes, mutated_tree

    out = {}
    for m in report["mutants"]:
        if m["function"] == "<module>":
            out[m["id"]] = (m["file"], m["function"], f"<module>{m['diff']}")
            continue
        source = (root / m["file"]).read_text(encoding="utf-8")
        index = int(m["id"].rsplit("#", 1)[1])
        tree = mutated_tree(source, m["function"], index)
        node = block_nodes(tree)[m["function"]]
        out[m["id"]] = (m["file"], m["function"], body_key(node))
    return out


# -- the runs ---------------------------------------------------------------------------------
def run_mutmut(root: Path, venv: Path) -> tuple[float, float]:
    _proc, wall, cpu = sh([str(venv / "bin" / "mutmut"), "run"], root, env_for(venv))
    return wall, cpu


def run_hotlap(root: Path, venv: Path, paths: list[str], *extra: str) -> tuple[dict, float, float]:
    out = root.parent / f"hotlap-{time.time_ns()}.json"
    _proc, wall, cpu = sh(
        [str(venv / "bin" / "hotlap"), "mutate", "--headless", "--json", str(out), *extra, *paths],
        root,
        env_for(venv),
    )
    return json.loads(out.read_text(encoding="utf-8")), wall, cpu


def counts_line(name: str, statuses: list[str], wall: float, cpu: float) -> str:
    c = Counter(statuses)
    detected = c["killed"] + c["timeout"]
    judged = detected + c["survived"] + c["no_tests"]
    score = 100.0 * detected / judged if judged else 0.0
    return (
        f"{name:<22} {len(statuses):>7} {c['killed']:>7} {c['timeout']:>7} {c['survived']:>8} "
        f"{c['no_tests']:>8} {c['error']:>6} {score:>6.1f}% {wall:>7.2f}s {cpu:>7.2f}s"
    )


def load() -> str:
    return f"{os.getloadavg()[0]:.2f}"


def one_round(spec: dict, src: Path, work: Path, venv: Path, n: int) -> dict:
    """Both tools on fresh copies of the project: (a) a full run, (b) a no-op rerun, (c) a
    rerun after the one-line edit. hotlap's (c) twice from the same state: ``--changed``
    (the edited function's mutants, as mutmut re-tests) and plain (also every mutant whose
    tests run the edited code). Seconds (wall, CPU) by name, and the first round's data."""
    mm_root = work / f"mutmut-{n}"
    hl_root = work / f"hotlap-{n}"
    shutil.copytree(src, mm_root)
    shutil.copytree(src, hl_root)
    with open(mm_root / "pyproject.toml", "a", encoding="utf-8") as f:
        f.write(spec["mutmut"])
    env = env_for(venv)
    mutmut = [str(venv / "bin" / "mutmut"), "run"]
    out: dict = {"load_start": load()}
    _, *out["mutmut full"] = sh(mutmut, mm_root, env)
    _, *out["mutmut no-op"] = sh(mutmut, mm_root, env)
    _, *out["hotlap run (recording)"] = sh(
        [str(venv / "bin" / "hotlap"), "run", "--headless", "--", "-n", "0"], hl_root, env
    )
    report, *out["hotlap full"] = run_hotlap(hl_root, venv, spec["hotlap_paths"])
    _, *out["hotlap no-op"] = run_hotlap(hl_root, venv, spec["hotlap_paths"])
    mm_status = mutmut_statuses(mm_root)
    if n == 0:  # the mutants as they are before the edit
        out["report"] = report
        out["mm_status"] = mm_status
        out["mm_keys"] = mutmut_mutants(mm_root)
        out["hl_keys"] = hotlap_keys(hl_root, report)
    rel, old, new = spec["edit"]
    for root in (mm_root, hl_root):
        path = root / rel
        text = path.read_text(encoding="utf-8")
        assert old in text, f"{old!r} not in {path}"
        path.write_text(text.replace(old, new, 1), encoding="utf-8")
    _, *out["mutmut edit"] = sh(mutmut, mm_root, env)
    db = hl_root / ".hotlap" / "mutate.sqlite3"
    kept = db.read_bytes()
    changed, *out["hotlap edit --changed"] = run_hotlap(
        hl_root, venv, spec["hotlap_paths"], "--changed"
    )
    db.write_bytes(kept)
    plain, *out["hotlap edit plain"] = run_hotlap(hl_root, venv, spec["hotlap_paths"])
    out["changed_mutants"] = len(changed["mutants"])
    out["plain_mutants"] = len(plain["mutants"])
    out["load_end"] = load()
    return out


TIMED = [
    "mutmut full",
    "hotlap full",
    "hotlap run (recording)",
    "mutmut no-op",
    "hotlap no-op",
    "mutmut edit",
    "hotlap edit --changed",
    "hotlap edit plain",
]


def compare(first: dict) -> None:
    """Verdicts on the mutants both make; mutants only one makes, by kind."""
    report, mm_status, mm_keys = first["report"], first["mm_status"], first["mm_keys"]
    mm_by_key = {(f, q, k): name for name, (f, q, k) in mm_keys.items()}
    hl_status = {m["id"]: m for m in report["mutants"]}
    both = differ = 0
    only_hl: Counter[str] = Counter()
    seen_mm: set[str] = set()
    print("\nverdicts that differ (same function, same mutated body):")
    for mid, key in first["hl_keys"].items():
        name = mm_by_key.get(key)
        m = hl_status[mid]
        if name is None:
            old_line, new_line = (line[1:].strip() for line in m["diff"].split("\n"))
            kind = "module-level" if m["function"] == "<module>" else kind_of(old_line, new_line)
            only_hl[kind] += 1
            continue
        seen_mm.add(name)
        both += 1
        theirs = mm_status.get(name, "?")
        if theirs != m["status"]:
            differ += 1
            old_line, new_line = m["diff"].split("\n")
            print(
                f"  {m['file']}:{m['line']} {m['function']}: {old_line[1:].strip()} -> "
                f"{new_line[1:].strip()}\n      hotlap {m['status']} "
                f"(killed by {m['killed_by'] or '-'}, {m['tests_run']} tests), mutmut {theirs}"
            )
    only_mm = Counter(kind_of(*MM_LINES[n]) for n in mm_keys if n not in seen_mm)
    mm_only_status = Counter(mm_status.get(n, "?") for n in mm_keys if n not in seen_mm)
    hl_only_status = Counter(
        hl_status[mid]["status"]
        for mid, key in first["hl_keys"].items()
        if mm_by_key.get(key) is None
    )
    print(
        f"\n{both} mutants made by both, {differ} verdicts differ"
        f"\nonly hotlap ({sum(only_hl.values())}): {dict(only_hl.most_common())}"
        f"\n  their verdicts: {dict(hl_only_status.most_common())}"
        f"\nonly mutmut ({sum(only_mm.values())}): {dict(only_mm.most_common())}"
        f"\n  their verdicts: {dict(mm_only_status.most_common())}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--venv", type=Path, default=Path(tempfile.gettempdir()) / "hotlap-bench-mutate-venv"
    )
    parser.add_argument("--project", default="shortuuid", choices=sorted(PROJECTS))
    parser.add_argument("--rounds", type=int, default=3, help="rounds, each on fresh copies")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    ns = parser.parse_args()
    spec = PROJECTS[ns.project]
    python = make_venv(ns.venv)
    work = Path(tempfile.mkdtemp(prefix="hotlap-bench-mutate-"))
    try:
        if "pin" in spec:
            src = fetch(spec["pin"], python, work / "sdist")
            what = spec["pin"]
        else:
            src = write_ledger(work / "ledger")
            what = "ledger (bench/mutate_ledger.py, 41 tests)"
        print(
            f"project {what}; {' '.join(PINS)}; python {sys.version.split()[0]}; "
            f"{ns.rounds} rounds; load {load()}",
            flush=True,
        )
        rounds = []
        for n in range(ns.rounds):
            found = one_round(spec, src, work, ns.venv, n)
            rounds.append(found)
            print(
                f"round {n + 1}: load {found['load_start']} -> {found['load_end']}; "
                + ", ".join(f"{k} {found[k][0]:.2f}s" for k in TIMED),
                flush=True,
            )
        first = rounds[0]
        print(
            f"\n{'full run':<22} {'mutants':>7} {'killed':>7} {'timeout':>7} {'survived':>8} "
            f"{'no tests':>8} {'error':>6} {'score':>7} {'wall':>8} {'CPU':>8}"
        )
        print(counts_line("mutmut 3.8.1", list(first["mm_status"].values()), *first["mutmut full"]))
        print(
            counts_line(
                "hotlap mutate",
                [m["status"] for m in first["report"]["mutants"]],
                *first["hotlap full"],
            )
        )
        print(
            f"\nmedian of {ns.rounds} (min-max), wall / CPU seconds; one-line edit in "
            f"{spec['edit_function']}: hotlap --changed re-tests "
            f"{first['changed_mutants']} mutants, plain hotlap mutate re-checks every mutant "
            "whose tests run the edited code"
        )
        for key in TIMED:
            walls = [r[key][0] for r in rounds]
            cpus = [r[key][1] for r in rounds]
            print(
                f"  {key:<24} {statistics.median(walls):6.2f}s ({min(walls):.2f}-{max(walls):.2f})"
                f"  CPU {statistics.median(cpus):6.2f}s"
            )
        mm_full = statistics.median(r["mutmut full"][0] for r in rounds)
        hl_full = statistics.median(r["hotlap full"][0] for r in rounds)
        mm_edit = statistics.median(r["mutmut edit"][0] for r in rounds)
        hl_edit = statistics.median(r["hotlap edit --changed"][0] for r in rounds)
        print(
            f"hotlap/mutmut: full {hl_full / mm_full:.2f}x, one-line edit {hl_edit / mm_edit:.2f}x"
            f"; load at the end {load()}"
        )
        compare(first)
    finally:
        if ns.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
