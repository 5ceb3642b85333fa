"""What hotlap costs on real projects' suites, against plain ``pytest -n 2``.

Fetches pinned sdists (``pip download --no-binary :all: --no-deps NAME==VER``, which carry the
projects' tests) into a cache outside the repo (``~/.cache/hotlap-bench``, ``--cache`` or
``$HOTLAP_BENCH_CACHE``), unpacks them, and gives each project its own venv with its test
dependencies, the project installed editable (as its developers have it: hotlap instruments
the project's code, which must therefore live under the rootdir) and hotlap installed from a
wheel built from this repo (or ``--ref``), byte-compiled as pip does for any wheel: hotlap's
own import cost is what a user pays, not a recompilation under ``PYTHONDONTWRITEBYTECODE``.

Variants (alternating, the order rotated each round, after one warm-up run of each):

* ``plain``:       ``python -m pytest -n 2 -p no:cacheprovider -p no:hotlap -p no:anyio …``:
  pytest as if hotlap were not installed: its inert plugin, and the pytest11 plugins that only
  hotlap's dependencies bring into the venv (anyio's and platformdirs' here), are blocked; see
  ``inert``
* ``hotlap``:      ``hotlap run --headless -- -n 2 -p no:cacheprovider`` (history and impact on,
  the default)
* ``hotlap-bare``: the same with ``--no-impact --no-history``
* ``plugin``:      ``python -m pytest -p hotlap --hotlap-json=… -n 2 -p no:cacheprovider``
* ``plain2``:      plain again: its ratio to ``plain`` is the noise floor
* ``inert`` (not run unless named): plain pytest with hotlap installed and not activated, what
  installing hotlap costs every other pytest run
* ``hotlap-first`` (``--first-run``): ``hotlap`` with everything hotlap left in the project set
  aside (``.hotlap/`` and its ``__pycache__/*-hotlap-*`` files), put back afterwards: the first
  run of a new user, against the warm ``hotlap`` of the same round.

Each run is timed by wall clock and by the CPU of its whole process tree (``RUSAGE_CHILDREN``
of this process: the app, pytest, its xdist workers and anything they waited for; the warm-up
runs also sample ``/proc`` to show that the workers are in it, and split it per process).
Pytest's counts, exit code and FAILED/ERROR lines are compared with ``plain``'s: any difference
is printed in capitals and the script exits 1.

``--bytecode off`` (the default) sets ``PYTHONDONTWRITEBYTECODE=1`` for the measured runs and
removes the project's ``__pycache__`` directories first (a CI checkout or a container: nothing
cached), and the venv's ``*-pytest-*.pyc`` files (pytest compiles the modules of pytest11
plugins, hotlap's and xdist's included, through its assertion rewriter, which ignores pip's
``.pyc`` files and caches its own only when allowed to write bytecode); ``on`` lets the warm-up
runs write both; ``both`` measures both.

    nice .venv/bin/python bench/suites.py                        # all suites, 5 rounds
    nice .venv/bin/python bench/suites.py --suites click attrs --rounds 7 --bytecode both
    nice .venv/bin/python bench/suites.py --ref main --first-run --json out.json
    .venv/bin/python bench/suites.py --setup-only                # fetch and install only
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import proctree

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Suite:
    name: str  # the distribution name for pip
    version: str
    deps: tuple[str, ...] = ()  # test dependencies besides pytest and xdist
    note: str = ""
    env: tuple[tuple[str, str], ...] = ()  # set for every run of the suite


#: Test dependencies as each project declares them (pinned to what was tried here).
SUITES = {
    s.name: s
    for s in (
        Suite("click", "8.5.1", (), "dependency group tests: pytest"),
        Suite(
            "attrs",
            "26.1.0",
            ("cloudpickle==3.1.3", "hypothesis==6.170.27", "pympler==1.1", "psutil"),
            "dependency group tests",
        ),
        Suite("jinja2", "3.1.6", ("trio==0.35.0",), "requirements/tests.in: pytest, trio"),
        Suite(
            "packaging",
            "25.0",
            ("pretend==1.0.9", "coverage[toml]>=5.0.0", "pip>=21.1"),
            "tests/requirements.txt; it parametrizes from sets, so without a fixed hash seed "
            "xdist's workers collect different orders ('Different tests were collected')",
            (("PYTHONHASHSEED", "0"),),
        ),
        Suite("more-itertools", "10.7.0", (), "no test dependencies (unittest-style tests)"),
    )
}

VARIANTS = ("plain", "hotlap", "hotlap-bare", "plugin", "plain2", "inert")
DEFAULT_VARIANTS = ("plain", "hotlap", "hotlap-bare", "plugin", "plain2")
HOTLAP_VARIANTS = ("hotlap", "hotlap-bare", "plugin", "hotlap-first")


def default_cache() -> Path:
    env = os.environ.get("HOTLAP_BENCH_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "hotlap-bench"


def sh(argv: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    """Run a set-up command; its output only if it fails."""
    proc = subprocess.run(argv, capture_output=True, text=True, **kw)
    if proc.returncode != 0:
        print(f"$ {' '.join(map(str, argv))}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        raise SystemExit(f"set-up command failed ({proc.returncode})")
    return proc


# -- set-up ---------------------------------------------------------------------------------


def fetch_sdist(suite: Suite, cache: Path) -> Path:
    """The unpacked sdist of ``suite`` under ``cache/src`` (downloaded once)."""
    sdists = cache / "sdists"
    sdists.mkdir(parents=True, exist_ok=True)
    stem = re.sub(r"[-_.]+", "_", suite.name).lower()

    def find() -> Path | None:
        want = f"{stem}_{suite.version.replace('.', '_')}_tar_gz"
        return next(
            (p for p in sdists.iterdir() if re.sub(r"[-_.]+", "_", p.name).lower() == want), None
        )

    archive = find()
    if archive is None:
        print(f"  pip download {suite.name}=={suite.version} (sdist)")
        sh(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "-q",
                "--no-binary",
                ":all:",
                "--no-deps",
                "-d",
                str(sdists),
                f"{suite.name}=={suite.version}",
            ]
        )
        archive = find()
        if archive is None:
            raise SystemExit(f"no sdist of {suite.name} {suite.version} in {sdists}")
    with tarfile.open(archive) as tar:
        top = tar.getnames()[0].split("/", 1)[0]
        target = cache / "src" / top
        if not target.is_dir():
            target.parent.mkdir(parents=True, exist_ok=True)
            if sys.version_info >= (3, 12):
                tar.extractall(target.parent, filter="data")
            else:
                tar.extractall(target.parent)
    return target


def hotlap_source(ref: str | None, cache: Path) -> tuple[Path, str]:
    """The directory to build hotlap from, and what it is (commit, +dirty for a work tree)."""
    if ref is None:
        head = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--", "src", "pyproject.toml"],
            capture_output=True,
            text=True,
        ).stdout.strip()
        return REPO, f"{REPO} at {head}{' + uncommitted changes' if dirty else ''}"
    sha = sh(["git", "-C", str(REPO), "rev-parse", "--short", ref]).stdout.strip()
    target = cache / "hotlap-src" / sha
    if not (target / "pyproject.toml").is_file():
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", "--format=tar", sha],
            capture_output=True,
            check=True,
        ).stdout
        with tempfile.TemporaryFile() as f:
            f.write(archive)
            f.seek(0)
            with tarfile.open(fileobj=f) as tar:
                tar.extractall(target)
    return target, f"{ref} = {sha}"


def build_wheel(source: Path, cache: Path) -> Path:
    out = cache / "wheels"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    sh([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(source)])
    (wheel,) = out.glob("hotlap-*.whl")
    return wheel


@dataclass
class Env:
    """One suite's venv and project directory."""

    suite: Suite
    project: Path
    venv: Path
    #: pytest11 plugins in the venv only because hotlap is installed (hotlap's own included)
    hotlap_plugins: list[str] = field(default_factory=list)

    @property
    def python(self) -> str:
        return str(self.venv / "bin" / "python")

    @property
    def hotlap(self) -> str:
        return str(self.venv / "bin" / "hotlap")


def prepare(suite: Suite, cache: Path, python: str, wheel: Path, pytest_reqs: list[str]) -> Env:
    project = fetch_sdist(suite, cache)
    tag = subprocess.run(
        [python, "-c", "import sys; print(sys.implementation.cache_tag)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    venv = cache / "venvs" / tag / suite.name
    env = Env(suite, project, venv)
    if not (venv / "bin" / "python").exists():
        print(f"  venv {venv}")
        sh([python, "-m", "venv", str(venv)])
    pip = [env.python, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    reqs = [*pytest_reqs, *suite.deps]
    stamp = venv / "hotlap-bench-reqs.json"
    wanted = json.dumps({"reqs": reqs, "project": str(project)})
    if not stamp.exists() or stamp.read_text() != wanted:
        print(f"  install {' '.join(reqs)} -e {project.name}")
        sh([*pip, *reqs, "-e", str(project)])
        sh([*pip, str(wheel)])  # hotlap's dependencies
        stamp.write_text(wanted)
    sh([*pip, "--no-deps", "--force-reinstall", str(wheel)])
    # pip byte-compiles what it installs; make sure of it whatever the environment says, so
    # no measured run compiles an installed module (the project itself is not installed there).
    site = subprocess.run(
        [env.python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    sh([env.python, "-m", "compileall", "-q", "-j", "0", site])
    roots = [suite.name, *(re.split(r"[\[=<>!~; ]", r, maxsplit=1)[0] for r in reqs)]
    env.hotlap_plugins = hotlap_only_plugins(env.python, roots)
    return env


def hotlap_only_plugins(python: str, roots: list[str]) -> list[str]:
    """The pytest11 plugins that are in ``python``'s environment only because of hotlap."""
    return sh([python, "-c", _HOTLAP_ONLY_PLUGINS, *roots]).stdout.split()


#: Prints the pytest11 entry points of distributions that are in hotlap's dependency closure
#: and not in the closure of the names given (the project, pytest, xdist, the test deps).
_HOTLAP_ONLY_PLUGINS = """
import sys, importlib.metadata as md
from packaging.requirements import Requirement
def norm(n): return n.lower().replace('_', '-').replace('.', '-')
def closure(names):
    seen, todo = set(), [norm(n) for n in names]
    while todo:
        n = todo.pop()
        if n in seen: continue
        seen.add(n)
        try: reqs = md.requires(n) or []
        except md.PackageNotFoundError: continue
        for r in map(Requirement, reqs):
            if r.marker is None or r.marker.evaluate({'extra': ''}):
                todo.append(norm(r.name))
    return seen
only = closure(['hotlap']) - closure(sys.argv[1:])
for d in md.distributions():
    if norm(d.metadata['Name']) in only:
        print(*(ep.name for ep in d.entry_points if ep.group == 'pytest11'))
"""


def versions(env: Env) -> str:
    code = (
        "import importlib.metadata as m, sys;"
        "print(sys.version.split()[0], *(f'{n} {m.version(n)}' for n in sys.argv[1:]), sep=', ')"
    )
    return sh(
        [env.python, "-c", code, "pytest", "pytest-xdist", env.suite.name, "hotlap"]
    ).stdout.strip()


# -- runs -----------------------------------------------------------------------------------


def commands(env: Env, work: Path, workers: str, extra: list[str]) -> dict[str, list[str]]:
    common = ["-n", workers, "-p", "no:cacheprovider", *extra]
    hotlap = [env.hotlap, "run", "--headless"]
    blocked = [a for name in env.hotlap_plugins for a in ("-p", f"no:{name}")]
    plain = [env.python, "-m", "pytest", *common, *blocked]
    return {
        "plain": plain,
        "hotlap": [*hotlap, "--", *common],
        "hotlap-bare": [*hotlap, "--no-impact", "--no-history", "--", *common],
        "plugin": [
            env.python,
            "-m",
            "pytest",
            "-p",
            "hotlap",
            f"--hotlap-json={work / 'r.json'}",
            *common,
        ],
        "plain2": plain,
        "inert": [env.python, "-m", "pytest", *common],
        "hotlap-first": [*hotlap, "--", *common],
    }


def run_env(bytecode: bool) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("HOTLAP_", "PYTEST_", "VIRTUAL_ENV"))
        and k not in ("CI", "COV_CORE_SOURCE")
    }
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if not bytecode:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


_COUNT = re.compile(r"(\d+) ((?:subtests )?[a-z]+)")
_WORKER_TAIL = re.compile(r" \[(?:gw\d+|\w+/gw\d+|main)?,? ?[\d.]+s\]$")
_SUMMARY = re.compile(r"\bin \d+(?:\.\d+)?s\b|no tests ran")


@dataclass
class Outcome:
    code: int
    counts: dict[str, int]
    failures: frozenset[str]
    line: str

    def key(self) -> tuple[int, tuple[tuple[str, int], ...], frozenset[str]]:
        counts = {k: v for k, v in self.counts.items() if not k.startswith("warning")}
        return self.code, tuple(sorted(counts.items())), self.failures


def outcome(result: proctree.RunResult) -> Outcome:
    lines = result.stdout.splitlines()
    summary = next((ln for ln in reversed(lines) if _SUMMARY.search(ln)), "")
    plain = re.sub(r"\x1b\[[0-9;]*m", "", summary)
    counts: dict[str, int] = {}
    for n, word in _COUNT.findall(plain.split(" in ")[0] if " in " in plain else plain):
        word = {"error": "errors", "warning": "warnings"}.get(word, word)
        counts[word] = counts.get(word, 0) + int(n)
    # "FAILED id - message" (pytest's short summary) or "FAILED id [gw1, 0.02s]" (hotlap's
    # live line): the same failure.
    failures = frozenset(
        _WORKER_TAIL.sub("", ln.split(" - ", 1)[0])
        for ln in lines
        if ln.startswith(("FAILED ", "ERROR "))
    )
    return Outcome(result.returncode, counts, failures, plain.strip("= ").strip())


@dataclass
class Measured:
    walls: dict[str, list[float]] = field(default_factory=dict)
    cpus: dict[str, list[float]] = field(default_factory=dict)
    outcomes: dict[str, list[Outcome]] = field(default_factory=dict)
    loads: list[float] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)


def clear_pycache(project: Path) -> None:
    for cache in project.rglob("__pycache__"):
        shutil.rmtree(cache, ignore_errors=True)


def clear_rewritten(venv: Path) -> None:
    """pytest's own caches of the plugins it rewrote (written only when bytecode is written)."""
    if not (venv / "pyvenv.cfg").is_file():
        return
    for pyc in venv.rglob("__pycache__/*-pytest-*.pyc"):
        pyc.unlink()


@contextlib.contextmanager
def hotlap_set_aside(project: Path) -> Any:
    """Everything hotlap left in ``project`` is moved out for the duration, then put back."""
    aside = Path(tempfile.mkdtemp(prefix="hotlap-aside-", dir=project.parent))
    moved: list[tuple[Path, Path]] = []
    candidates = [project / ".hotlap", *project.rglob("__pycache__/*-hotlap-*")]
    for i, path in enumerate(p for p in candidates if p.exists()):
        target = aside / str(i)
        path.rename(target)
        moved.append((path, target))
    try:
        yield
    finally:
        shutil.rmtree(project / ".hotlap", ignore_errors=True)
        for stray in project.rglob("__pycache__/*-hotlap-*"):
            stray.unlink()
        for path, target in moved:
            target.rename(path)
        shutil.rmtree(aside, ignore_errors=True)


def timed(
    env: Env, name: str, argv: list[str], run_env_: dict[str, str], timeout: float, sample: bool
) -> proctree.RunResult:
    if name == "hotlap-first":
        with hotlap_set_aside(env.project):
            return proctree.run(argv, env.project, run_env_, timeout=timeout, sample=sample)
    return proctree.run(argv, env.project, run_env_, timeout=timeout, sample=sample)


def tree_line(result: proctree.RunResult) -> str:
    parts = [
        f"{label} {p.cpu:.2f}" for label, p in proctree.label_tree(result.tree) if p.cpu >= 0.005
    ]
    return (
        f"rusage {result.cpu:.2f} s = self {result.root_self:.2f} + waited-for children "
        f"{result.root_children:.2f}; /proc sum {result.sampled_cpu:.2f} s over "
        f"{len(result.tree)} processes ({', '.join(parts)})"
    )


def bench_suite(
    env: Env,
    variants: list[str],
    rounds: int,
    bytecode: bool,
    args: argparse.Namespace,
    work: Path,
) -> Measured:
    cmds = commands(env, work, args.workers, args.pytest_arg)
    renv = run_env(bytecode) | dict(env.suite.env)
    if not bytecode:
        clear_pycache(env.project)
        clear_rewritten(env.venv)
    m = Measured()
    for name in variants:
        m.walls[name], m.cpus[name], m.outcomes[name] = [], [], []
    extra_env = " ".join(f"{k}={v}" for k, v in env.suite.env)
    print(f"  commands (cwd = the project{', with ' + extra_env if extra_env else ''}):")
    for name in variants:
        print(f"    {name:12} {' '.join(cmds[name])}")
    logs = args.cache.expanduser() / "logs" / env.suite.name
    shutil.rmtree(logs, ignore_errors=True)

    def keep_if_different(name: str, o: Outcome, r: proctree.RunResult) -> None:
        """Writes the output of a run whose outcome differs from plain's first one."""
        if m.outcomes["plain"] and o.key() != m.outcomes["plain"][0].key():
            logs.mkdir(parents=True, exist_ok=True)
            path = logs / f"{name}-{len(m.outcomes[name])}.txt"
            path.write_text(f"$ {' '.join(r.argv)}\n{r.stdout}\n--- stderr\n{r.stderr}")
            print(
                f"    !!! {name} run {len(m.outcomes[name])}: not plain's outcome; output in {path}"
            )

    for name in variants:  # warm-up: page cache, bytecode (when on), hotlap's history and impact
        r = timed(env, name, cmds[name], renv, args.timeout, sample=True)
        o = outcome(r)
        keep_if_different(name, o, r)
        m.outcomes[name].append(o)
        print(f"    warm-up {name:12} {r.wall:7.2f} s  exit {r.returncode}  {o.line}")
        print(f"      tree: {tree_line(r)}")
        if r.returncode not in (0, 1):
            print(r.stdout[-3000:], r.stderr[-3000:], sep="\n")
    for rnd in range(rounds):
        order = variants[rnd % len(variants) :] + variants[: rnd % len(variants)]
        m.loads.append(os.getloadavg()[0])
        for name in order:
            r = timed(env, name, cmds[name], renv, args.timeout, sample=False)
            o = outcome(r)
            keep_if_different(name, o, r)
            m.walls[name].append(r.wall)
            m.cpus[name].append(r.cpu)
            m.outcomes[name].append(o)
            m.runs.append(
                {
                    "round": rnd + 1,
                    "variant": name,
                    "wall": r.wall,
                    "cpu": r.cpu,
                    "exit": r.returncode,
                    "counts": o.counts,
                    "load1": os.getloadavg()[0],
                }
            )
            if args.verbose:
                print(
                    f"    round {rnd + 1} {name:12} {r.wall:7.2f} s  cpu {r.cpu:7.2f} s  {o.line}"
                )
    return m


def _ratios(a: list[float], b: list[float]) -> list[float]:
    return [x / y for x, y in zip(a, b, strict=True)]


def report(m: Measured, variants: list[str]) -> list[str]:
    """The per-suite table; returns the outcome problems found."""
    base = "plain"
    floor_w = _ratios(m.walls["plain2"], m.walls[base]) if "plain2" in m.walls else []
    floor_c = _ratios(m.cpus["plain2"], m.cpus[base]) if "plain2" in m.cpus else []
    head = (
        f"    {'variant':12} {'wall med':>9} {'x plain':>8} {'per-round: med':>15} {'range':>13}"
        f"   {'cpu med':>8} {'x plain':>8} {'per-round: med':>15} {'range':>13}"
    )
    print(head)
    for name in variants:
        w, c = m.walls[name], m.cpus[name]
        mw, mc = statistics.median(w), statistics.median(c)
        line = f"    {name:12} {mw:8.2f}s {mw / statistics.median(m.walls[base]):7.3f}x"
        line_c = f"{mc:7.2f}s {mc / statistics.median(m.cpus[base]):7.3f}x"
        if name == base:
            print(f"{line} {'':>15} {'':>13}   {line_c}")
            continue
        rw, rc = _ratios(w, m.walls[base]), _ratios(c, m.cpus[base])
        print(
            f"{line} {statistics.median(rw):14.3f}x {min(rw):6.3f}-{max(rw):.3f}   {line_c}"
            f" {statistics.median(rc):14.3f}x {min(rc):6.3f}-{max(rc):.3f}"
        )
    if floor_w:
        print(
            f"    noise floor (plain2/plain per round): "
            f"wall {min(floor_w):.3f}-{max(floor_w):.3f}, "
            f"cpu {min(floor_c):.3f}-{max(floor_c):.3f}"
        )
    if "hotlap-first" in m.walls and "hotlap" in m.walls:
        fw = _ratios(m.walls["hotlap-first"], m.walls["hotlap"])
        fc = _ratios(m.cpus["hotlap-first"], m.cpus["hotlap"])
        print(
            f"    first run / warm hotlap: wall {statistics.median(fw):.3f}x (range "
            f"{min(fw):.3f}-{max(fw):.3f}), cpu {statistics.median(fc):.3f}x (range "
            f"{min(fc):.3f}-{max(fc):.3f})  [goal <= 1.10x]"
        )
    print(
        f"    load average (1 min) at each round's start: {' '.join(f'{x:.1f}' for x in m.loads)}"
    )
    problems: list[str] = []
    plain_keys = {o.key() for n in ("plain", "plain2") if n in m.outcomes for o in m.outcomes[n]}
    plain_warn = {
        o.counts.get("warnings", 0)
        for n in ("plain", "plain2")
        if n in m.outcomes
        for o in m.outcomes[n]
    }
    if len(plain_keys) > 1:
        print(f"    note: plain pytest itself gave {len(plain_keys)} different outcomes")
    for name in variants:
        for i, o in enumerate(m.outcomes[name]):
            if o.key() not in plain_keys:
                ref = next(o2 for o2 in m.outcomes["plain"])
                diff = {
                    "exit": (ref.code, o.code),
                    "counts": (ref.counts, o.counts),
                    "only plain failed": sorted(ref.failures - o.failures)[:10],
                    f"only {name} failed": sorted(o.failures - ref.failures)[:10],
                }
                problems.append(f"{name} run {i} (0 = warm-up): {diff}")
            elif o.counts.get("warnings", 0) not in plain_warn:
                print(
                    f"    note: {name} run {i} counted {o.counts.get('warnings', 0)} warnings, "
                    f"plain {sorted(plain_warn)}"
                )
    for p in problems:
        print(f"    !!! OUTCOME DIFFERS FROM PLAIN PYTEST: {p}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--suites", nargs="+", choices=list(SUITES), default=list(SUITES))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(DEFAULT_VARIANTS))
    parser.add_argument(
        "--first-run",
        action="store_true",
        help="add hotlap-first: hotlap with no .hotlap/ (nor hotlap's pyc files) in the project",
    )
    parser.add_argument(
        "--bytecode",
        choices=("on", "off", "both"),
        default="off",
        help="off: PYTHONDONTWRITEBYTECODE=1, no project __pycache__ (default)",
    )
    parser.add_argument("--cache", type=Path, default=default_cache())
    parser.add_argument("--python", default=sys.executable, help="interpreter for the venvs")
    parser.add_argument("--ref", help="build hotlap from this git ref (default: the work tree)")
    parser.add_argument("--pytest", default="pytest==9.2.0", help="pip requirement for pytest")
    parser.add_argument("--xdist", default="pytest-xdist[psutil]==3.8.0")
    parser.add_argument("--workers", default="2", help="-n for every variant")
    parser.add_argument(
        "--pytest-arg", action="append", default=[], help="extra pytest argument (repeatable)"
    )
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per run")
    parser.add_argument("--json", type=Path, help="write every run's figures here")
    parser.add_argument("--setup-only", action="store_true")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every run")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]

    variants = list(dict.fromkeys(["plain", *args.variants]))
    if args.first_run:
        variants.append("hotlap-first")
    cache = args.cache.expanduser().resolve()
    cache.mkdir(parents=True, exist_ok=True)
    print(f"cache {cache}; load average {os.getloadavg()}; {os.cpu_count()} CPUs")
    source, what = hotlap_source(args.ref, cache)
    print(f"hotlap from {what}")
    wheel = build_wheel(source, cache)
    envs = []
    for name in args.suites:
        print(f"set-up {name}")
        envs.append(prepare(SUITES[name], cache, args.python, wheel, [args.pytest, args.xdist]))
    if args.setup_only:
        return 0
    modes = {"on": [True], "off": [False], "both": [False, True]}[args.bytecode]
    problems: list[str] = []
    summary: list[tuple[str, str, Measured]] = []
    dump: dict[str, Any] = {"hotlap": what, "variants": variants, "suites": {}}
    work = Path(tempfile.mkdtemp(prefix="hotlap-bench-"))
    try:
        for bytecode in modes:
            label = "bytecode written" if bytecode else "PYTHONDONTWRITEBYTECODE=1"
            for env in envs:
                print(f"\n== {env.suite.name} {env.suite.version}, {label}: {versions(env)}")
                started = time.monotonic()
                m = bench_suite(env, variants, args.rounds, bytecode, args, work)
                print(f"  {args.rounds} rounds in {time.monotonic() - started:.0f} s")
                problems += [f"{env.suite.name} ({label}): {p}" for p in report(m, variants)]
                summary.append((env.suite.name, label, m))
                dump["suites"][f"{env.suite.name} {label}"] = m.runs
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print_summary(summary, variants)
    if args.json:
        args.json.write_text(json.dumps(dump, indent=1))
    if problems:
        print("\n!!! HOTLAP CHANGED PYTEST'S OUTCOME:")
        for p in problems:
            print(f"!!!   {p}")
        return 1
    return 0


def print_summary(summary: list[tuple[str, str, Measured]], variants: list[str]) -> None:
    """One line per suite: median per-round ratios to plain, wall / cpu."""
    shown = [v for v in variants if v != "plain"]
    print("\nmedian of per-round ratios to plain, wall / cpu of the process tree")
    print(f"{'suite':16} {'mode':26} {'plain wall':>10} " + " ".join(f"{v:>14}" for v in shown))
    for name, label, m in summary:
        cells = []
        for v in shown:
            ref = "hotlap" if v == "hotlap-first" else "plain"
            rw = statistics.median(_ratios(m.walls[v], m.walls[ref]))
            rc = statistics.median(_ratios(m.cpus[v], m.cpus[ref]))
            cells.append(f"{rw:6.3f}/{rc:5.3f}".rjust(14))
        plain = statistics.median(m.walls["plain"])
        print(f"{name:16} {label:26} {plain:9.2f}s " + " ".join(cells))
    if "hotlap-first" in shown:
        print("(hotlap-first is against the warm hotlap of the same round, not plain)")


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
    sys.exit(130)
