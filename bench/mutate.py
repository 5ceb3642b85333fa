"""hotlap mutate against mutmut 3.x on a real project, side by side: mutants, verdicts,
score, wall and CPU time, a full run and a one-line edit.

    python bench/mutate.py [--venv DIR] [--project shortuuid] [--workers 2]

The project's sdist is fetched with ``pip download --no-binary :all:`` (pinned), unpacked
twice (one copy per tool: mutmut writes a ``mutants/`` copy into its tree, hotlap writes only
``.hotlap/``). A venv with pinned pytest and mutmut and this hotlap (editable) is made once.

Verdicts are compared on the mutants both tools make: the same function with the same
mutated body (both unparsed by ``ast``). Every pair whose verdicts differ is printed with
the change and the tests hotlap ran, for explanation; mutants only one tool makes are
counted by kind. hotlap needs the impact data of one ``hotlap run`` (timed apart: a hotlap
user has it from their last run); mutmut's own stats run is part of its time.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import resource
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import Counter
from pathlib import Path

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
        f"{c['no_tests']:>8} {score:>6.1f}% {wall:>7.2f}s {cpu:>7.2f}s"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--venv", type=Path, default=Path(tempfile.gettempdir()) / "hotlap-bench-mutate-venv"
    )
    parser.add_argument("--project", default="shortuuid", choices=sorted(PROJECTS))
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    ns = parser.parse_args()
    spec = PROJECTS[ns.project]
    python = make_venv(ns.venv)
    work = Path(tempfile.mkdtemp(prefix="hotlap-bench-mutate-"))
    try:
        src = fetch(spec["pin"], python, work / "sdist")
        mm_root = work / "mutmut"
        hl_root = work / "hotlap"
        shutil.copytree(src, mm_root)
        shutil.copytree(src, hl_root)
        with open(mm_root / "pyproject.toml", "a", encoding="utf-8") as f:
            f.write(spec["mutmut"])
        print(
            f"project {spec['pin']}; {' '.join(PINS)}; python {sys.version.split()[0]}; "
            f"load {os.getloadavg()[0]:.2f}"
        )

        mm_wall, mm_cpu = run_mutmut(mm_root, ns.venv)
        _, rec_wall, rec_cpu = sh(
            [str(ns.venv / "bin" / "hotlap"), "run", "--headless", "--", "-n", "0"],
            hl_root,
            env_for(ns.venv),
        )
        report, hl_wall, hl_cpu = run_hotlap(hl_root, ns.venv, spec["hotlap_paths"])
        _, noop_wall, _ = run_hotlap(hl_root, ns.venv, spec["hotlap_paths"])
        mm_noop = sh([str(ns.venv / "bin" / "mutmut"), "run"], mm_root, env_for(ns.venv))[1]

        mm_status = mutmut_statuses(mm_root)
        mm_keys = mutmut_mutants(mm_root)
        hl_keys = hotlap_keys(hl_root, report)
        print()
        print(
            f"{'full run':<22} {'mutants':>7} {'killed':>7} {'timeout':>7} {'survived':>8} "
            f"{'no tests':>8} {'score':>7} {'wall':>8} {'CPU':>8}"
        )
        print(counts_line("mutmut 3.8.1", list(mm_status.values()), mm_wall, mm_cpu))
        print(
            counts_line("hotlap mutate", [m["status"] for m in report["mutants"]], hl_wall, hl_cpu)
        )
        print(
            f"hotlap/mutmut wall {hl_wall / mm_wall:.2f}x, CPU {hl_cpu / mm_cpu:.2f}x; "
            f"hotlap's recording run (hotlap run) {rec_wall:.2f}s wall, {rec_cpu:.2f}s CPU"
        )
        print(f"no-op rerun: mutmut {mm_noop:.2f}s, hotlap {noop_wall:.2f}s")

        # The one-line edit, in both copies.
        rel, old, new = spec["edit"]
        for root in (mm_root, hl_root):
            path = root / rel
            path.write_text(path.read_text(encoding="utf-8").replace(old, new, 1), encoding="utf-8")
        _, mm_edit, mm_edit_cpu = sh(
            [str(ns.venv / "bin" / "mutmut"), "run"], mm_root, env_for(ns.venv)
        )
        changed, edit_wall, edit_cpu = run_hotlap(
            hl_root, ns.venv, spec["hotlap_paths"], "--changed"
        )
        _, full_after_edit, _ = run_hotlap(hl_root, ns.venv, spec["hotlap_paths"])
        print(
            f"one-line edit in {spec['edit_function']}: mutmut {mm_edit:.2f}s wall "
            f"{mm_edit_cpu:.2f}s CPU; hotlap mutate --changed {edit_wall:.2f}s wall "
            f"{edit_cpu:.2f}s CPU ({len(changed['mutants'])} mutants); plain hotlap mutate "
            f"{full_after_edit:.2f}s (re-checks every mutant whose tests run the edited code)"
        )
        print(f"load at the end {os.getloadavg()[0]:.2f}")

        # Verdicts on the mutants both make.
        mm_by_key = {(f, q, k): name for name, (f, q, k) in mm_keys.items()}
        hl_status = {m["id"]: m for m in report["mutants"]}
        both = differ = 0
        only_hl: Counter[str] = Counter()
        seen_mm: set[str] = set()
        print("\nverdicts that differ (same function, same mutated body):")
        for mid, key in hl_keys.items():
            name = mm_by_key.get(key)
            m = hl_status[mid]
            if name is None:
                old_line, new_line = (line[1:].strip() for line in m["diff"].split("\n"))
                kind = (
                    "module-level" if m["function"] == "<module>" else kind_of(old_line, new_line)
                )
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
        print(
            f"\n{both} mutants made by both, {differ} verdicts differ"
            f"\nonly hotlap ({sum(only_hl.values())}): {dict(only_hl.most_common())}"
            f"\nonly mutmut ({sum(only_mm.values())}): {dict(only_mm.most_common())}"
        )
    finally:
        if ns.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
