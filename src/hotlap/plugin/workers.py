"""hotlap's ``-n`` when the user gave none, chosen inside pytest once pytest has parsed
everything (command line, ``PYTEST_ADDOPTS``, ini ``addopts``, ``-p``, plugins' options).

The app cannot tell before pytest starts which tests a command selects without pytest's own
parser, and importing pytest there delays the run by ~130 ms. So the app sets
:data:`ENV_WORKERS` (effective cores, a memory cap) and, with history, :data:`ENV_SEEN` (how
long earlier runs of the same arguments took with each ``-n``) and :data:`ENV_EXPECTED` (a
file of expected seconds per test); :func:`choose` runs first in ``pytest_cmdline_main``,
before xdist's, and when no ``-n``/``--tx`` was given sets ``config.option.numprocesses``,
which xdist then applies as if it had been typed. The choice and its reason travel back in
the ``SessionStart`` event.

How the count is chosen:

1. An option that needs one process (``--pdb``, ``--trace``, ``--looponfail``), a run that
   runs no test (``--collect-only``, ``--setup-plan``), or one effective core: ``-n 0``.
2. Earlier runs of the same arguments timed both ``-n 0`` and ``-n W``: the faster (median).
3. Otherwise a cost model: xdist's start-up (~0.2 s + 0.12 s per worker, measured here) and
   per-test traffic against what W workers save on the tests' own time, estimated from the
   last run of these arguments, else history's durations of the tests that pytest's parsed
   arguments select (paths, node ids, ``--deselect``, ``--ignore``, ``-k`` by name), else a
   count of ``def test`` lines in the paths given.
4. When only one of ``-n 0`` / ``-n W`` was timed for these arguments, the other is tried
   once when it may be faster: ``-n W`` when the model expects it to save time, ``-n 0``
   when the model's saving is under :data:`EXPLORE` - 1 of the ``-n W`` run's time. The
   model leaves out what makes xdist slower (every worker collects; cores busy elsewhere),
   so a suite whose collection dominates (click 8.5.1: 33,000 tests collected, 2,400 run)
   can be faster at ``-n 0`` while the model says ``-n 2``: only a measurement tells. A
   close loser is timed again every :data:`RETRY` runs.
"""

from __future__ import annotations

import fnmatch
import json
import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from hotlap.channel import ENV_EXPECTED, ENV_WORKERS
from hotlap.channel import ENV_WORKERS_SEEN as ENV_SEEN

#: xdist's start-up, in seconds: a constant and a part per worker (trivial run here: -n 0
#: 0.24 s, -n 1 0.55 s, -n 2 0.62 s, -n 4 0.94 s).
START_FIXED = 0.2
START_PER_WORKER = 0.12
#: Per-test seconds of pytest and hotlap's plugin beyond the test's own time …
PER_TEST = 0.0005
#: … and of xdist's traffic (the controller's scheduling and reports).
PER_TEST_XDIST = 0.0004
#: Seconds assumed for a test history does not know.
UNKNOWN_TEST = 0.005
#: A predicted gain smaller than this (seconds) keeps -n 0: not worth the extra CPU.
MARGIN = 0.15
#: Try -n 0 once when -n W was timed and the model's saving is under EXPLORE - 1 of its time.
EXPLORE = 1.25
#: The slower choice is timed again after this many runs of the same arguments, when it was
#: within RETRY_WITHIN of the faster (the machine's load, the suite, caches change).
RETRY = 10
RETRY_WITHIN = 1.5
#: Counting ``def test`` lines stops here: enough to know the run is not small.
COUNT_LIMIT = 5000

_TEST_DEF = re.compile(rb"^\s*(?:async\s+)?def\s+test", re.MULTILINE)
_SKIP_DIRS = frozenset(
    {".git", ".hg", ".tox", ".nox", ".venv", "venv", "node_modules", "__pycache__", ".hotlap"}
)
_reason_key = pytest.StashKey[str]()


@dataclass
class Seen:
    """Earlier runs of the same arguments: wall seconds by ``-n``, and the last one's tests."""

    walls: dict[int, list[float]] = field(default_factory=dict)
    tests: int = 0
    seconds: float = 0.0
    #: Runs of these arguments since each ``-n`` was last timed.
    age: dict[int, int] = field(default_factory=dict)

    @classmethod
    def from_json(cls, text: str) -> Seen:
        data = json.loads(text)
        walls = {int(n): [float(w) for w in ws] for n, ws in data.get("walls", {}).items()}
        age = {int(n): int(a) for n, a in data.get("age", {}).items()}
        return cls(walls, int(data.get("tests", 0)), float(data.get("seconds", 0.0)), age)


@dataclass(frozen=True)
class Estimate:
    """How many tests a run selects and their seconds, and where that comes from."""

    tests: int
    seconds: float
    source: str


def start_cost(workers: int) -> float:
    """Seconds xdist's start-up adds with ``workers`` workers."""
    return START_FIXED + START_PER_WORKER * workers


def gain(est: Estimate, workers: int) -> float:
    """Seconds ``workers`` xdist workers are expected to save over one process."""
    busy = est.seconds + est.tests * PER_TEST
    return busy * (1 - 1 / workers) - start_cost(workers) - est.tests * PER_TEST_XDIST


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def decide(cores: float, cap: int, seen: Seen | None, estimate: Estimate) -> tuple[int, str]:
    """``(numprocesses, reason)`` for a run that may use xdist."""
    workers = max(1, math.floor(cores + 1e-9))
    why_cores = f"{cores:g} effective core{'s' * (cores != 1)}"
    if cap and cap < workers:
        workers = cap
        why_cores += ", fewer for the workers' peak memory (history)"
    if workers <= 1:
        return 0, f"-n 0: {why_cores}"
    walls = seen.walls if seen is not None else {}
    timed = {n: _median(w) for n, w in walls.items() if w and n in (0, workers)}
    if len(timed) == 2 and seen is not None:
        best = min(timed, key=lambda n: (timed[n], n))
        other = workers if best == 0 else 0
        age = seen.age.get(other, 0)
        if age >= RETRY and timed[other] < RETRY_WITHIN * timed[best]:
            return other, (
                f"-n {other}: trying it again ({timed[other]:.1f}s {age} runs ago, "
                f"-n {best} {timed[best]:.1f}s)"
            )
        return best, (
            f"-n {best}: faster than -n {other} in earlier runs of these arguments "
            f"({timed[best]:.1f}s vs {timed[other]:.1f}s)"
        )
    saved = gain(estimate, workers)
    size = f"~{estimate.tests} tests, ~{estimate.seconds:.1f}s of tests ({estimate.source})"
    if len(timed) == 1:
        ((n, wall),) = timed.items()
        # What the model leaves out (collection in every worker, cores busy elsewhere, the
        # controller's traffic) only ever makes xdist slower: a timed -n 0 is tried with
        # workers only when the model expects them to save time; a timed -n W is tried
        # without when the model's saving is small against the time it took.
        if n == 0 and saved > MARGIN:
            return workers, f"-n {workers}: trying it once (-n 0 took {wall:.1f}s; {size})"
        if n == workers and saved < (EXPLORE - 1) * wall:
            return 0, f"-n 0: trying it once (-n {workers} took {wall:.1f}s; {size})"
        return n, f"-n {n}: {why_cores if n else 'timed before'}; {size}"
    if saved > MARGIN:
        return workers, f"-n {workers}: {why_cores}; {size}"
    return 0, f"-n 0: {size}: xdist's start-up would cost more than it saves"


# -- what the run selects -------------------------------------------------------------------
def _arg_nodeids(config: pytest.Config) -> list[str]:
    """pytest's initial arguments (its own parse, testpaths included) as node id prefixes
    relative to the rootdir; "" stands for the whole rootdir."""
    root = config.rootpath
    out = []
    for arg in config.args:
        path_part, sep, rest = str(arg).partition("::")
        path = Path(path_part)
        if not path.is_absolute():
            path = config.invocation_params.dir / path
        try:
            rel = os.path.relpath(os.path.normpath(path), root)
        except ValueError:
            rel = str(path)
        rel = "" if rel == "." else rel.replace(os.sep, "/")
        out.append(f"{rel}{sep}{rest}")
    return out


def _under(nodeid: str, prefix: str) -> bool:
    if not prefix:
        return True
    if not nodeid.startswith(prefix):
        return False
    tail = nodeid[len(prefix) :]
    return not tail or tail[0] in "/:["


def _keyword_filter(config: pytest.Config) -> Any:
    """A ``nodeid -> bool`` for ``-k`` matched against the node id's names, or None."""
    expr_text = (getattr(config.option, "keyword", "") or "").strip()
    if not expr_text:
        return None
    try:
        from _pytest.mark.expression import Expression

        expr = Expression.compile(expr_text)
    except Exception:  # a private API, or a bad expression pytest itself will report
        return False

    def matches(nodeid: str) -> bool:
        # pytest matches -k against each node's name below the rootdir (directories,
        # module, class, test): the node id holds them all but markers and extra keywords.
        path, _, rest = nodeid.partition("::")
        names = [n.lower() for n in (*path.split("/"), *rest.split("::")) if n]

        def match(sub: str, /, **kwargs: object) -> bool:
            sub = sub.lower()
            return any(sub in n for n in names)

        return bool(expr.evaluate(match))

    return matches


def select_known(
    config: pytest.Config, durations: Mapping[str, float]
) -> tuple[Estimate | None, list[str]]:
    """The tests history knows that pytest's arguments select, and the arguments that
    matched none of them (new files: counted from their source)."""
    prefixes = _arg_nodeids(config)
    deselect = tuple(getattr(config.option, "deselect", None) or ())
    ignored = [
        p.replace(os.sep, "/")
        for p in _arg_paths(config, [*(config.getoption("ignore", None) or ())])
    ]
    keyword = _keyword_filter(config)
    if keyword is False:
        return None, prefixes  # an expression we cannot read: no estimate from history
    hit = dict.fromkeys(prefixes, False)
    tests, seconds = 0, 0.0
    for nodeid, secs in durations.items():
        owners = [p for p in prefixes if _under(nodeid, p)]
        if not owners:
            continue
        for p in owners:
            hit[p] = True
        if deselect and nodeid.startswith(deselect):
            continue
        if any(_under(nodeid, p) for p in ignored):
            continue
        if keyword is not None and not keyword(nodeid):
            continue
        tests += 1
        seconds += secs
    missing = [p for p, found in hit.items() if not found]
    if len(missing) == len(prefixes):
        return None, prefixes
    return Estimate(tests, seconds, "history"), missing


def _arg_paths(config: pytest.Config, args: Iterable[str]) -> list[str]:
    root = config.rootpath
    out = []
    for arg in args:
        path = Path(arg)
        if not path.is_absolute():
            path = config.invocation_params.dir / path
        try:
            out.append(os.path.relpath(os.path.normpath(path), root))
        except ValueError:
            continue
    return out


def count_defs(config: pytest.Config, prefixes: list[str], limit: int = COUNT_LIMIT) -> int:
    """``def test`` lines in the test files under ``prefixes`` (one per named test id), up
    to ``limit``: a cheap lower bound (parametrization only adds)."""
    patterns = [str(p) for p in config.getini("python_files")] or ["test_*.py", "*_test.py"]
    skip = [str(p) for p in config.getini("norecursedirs")]
    root = config.rootpath
    count = 0
    for prefix in prefixes:
        path_part, sep, _ = prefix.partition("::")
        if sep:
            count += 1
            continue
        base = root / path_part if path_part else root
        if base.is_file():
            files = [base]
        else:
            files = []
            for dirpath, dirnames, filenames in os.walk(base):
                dirnames[:] = [
                    d
                    for d in dirnames
                    if d not in _SKIP_DIRS
                    and not d.endswith(".egg-info")
                    and not any(fnmatch.fnmatch(d, pat) for pat in skip)
                ]
                files += [
                    Path(dirpath, name)
                    for name in filenames
                    if any(fnmatch.fnmatch(name, pat) for pat in patterns)
                ]
        for file in files:
            try:
                count += len(_TEST_DEF.findall(file.read_bytes()))
            except OSError:
                continue
            if count >= limit:
                return count
    return count


def estimate(config: pytest.Config, seen: Seen | None) -> Estimate:
    """What the run selects: the last run of these arguments, else history, else a count;
    one shard's share under ``--hotlap-shard K/N``."""
    if seen is not None and seen.tests:
        return Estimate(seen.tests, seen.seconds, "last run of these arguments")
    whole = _estimate(config)
    shards = _shard_count(config)
    if shards <= 1:
        return whole
    return Estimate(
        max(1, whole.tests // shards), whole.seconds / shards, f"{whole.source}, 1/{shards}"
    )


def _shard_count(config: pytest.Config) -> int:
    spec = str(config.getoption("hotlap_shard", None) or "")
    try:
        from hotlap.history.shards import parse_shard

        return parse_shard(spec)[1] if spec else 1
    except (ImportError, ValueError):
        return 1  # the shard plugin reports a bad spec itself


def _estimate(config: pytest.Config) -> Estimate:
    durations: dict[str, float] = {}
    path = os.environ.get(ENV_EXPECTED)
    if path:
        from hotlap.history.plan import read_schedule

        durations, _groups = read_schedule(path)
    known, missing = select_known(config, durations) if durations else (None, _arg_nodeids(config))
    extra = count_defs(config, missing) if missing else 0
    if known is None:
        return Estimate(extra, extra * UNKNOWN_TEST, "def test lines")
    if extra:
        source = "history, and def test lines for new files"
        return Estimate(known.tests + extra, known.seconds + extra * UNKNOWN_TEST, source)
    return known


# -- the hook -------------------------------------------------------------------------------
def _one_process(config: pytest.Config) -> str:
    option = config.option
    for name, flag in (("usepdb", "--pdb"), ("trace", "--trace"), ("looponfail", "--looponfail")):
        if getattr(option, name, False):
            return f"{flag} needs one process"
    for name, flag in (
        ("collectonly", "--collect-only"),
        ("setupplan", "--setup-plan"),
        ("setuponly", "--setup-only"),
    ):
        if getattr(option, name, False):
            return f"{flag} runs no test"
    return ""


def choose(config: pytest.Config) -> None:
    """Set ``-n`` when the app asked for hotlap's choice and the user gave none anywhere."""
    raw = os.environ.get(ENV_WORKERS)
    if not raw or hasattr(config, "workerinput"):
        return
    option = config.option
    if not hasattr(option, "numprocesses"):
        return  # xdist is not loaded (-p no:xdist, autoload disabled): one process
    if option.numprocesses is not None or getattr(option, "tx", None):
        return  # the user's own choice
    try:
        data = json.loads(raw)
        cores, cap = float(data["cores"]), int(data.get("cap", 0))
    except (ValueError, KeyError, TypeError):
        return
    why = _one_process(config)
    if why:
        option.numprocesses = 0
        config.stash[_reason_key] = f"-n 0: {why}"
        return
    seen = None
    raw_seen = os.environ.get(ENV_SEEN)
    if raw_seen:
        try:
            seen = Seen.from_json(raw_seen)
        except (ValueError, TypeError, AttributeError):
            seen = None
    n, reason = decide(cores, cap, seen, estimate(config, seen))
    option.numprocesses = n
    config.stash[_reason_key] = reason


def reason(config: pytest.Config) -> str:
    """Why hotlap chose this run's ``-n`` ("" when it did not choose)."""
    return config.stash.get(_reason_key, "")
