"""``hotlap run --find-polluters``: after the run, each failed test is rerun alone in one
plain pytest process; when it passes there, the tests its worker ran before it are bisected
(:mod:`hotlap.safety.bisect`) to the fewest that make it fail again.

Each rerun is ``python -m pytest`` with the run's options (its selection replaced by the
subset and the victim, in the worker's order), ``-n 0`` when xdist is installed, no
``-x``/``--maxfail``, pytest-randomly's seed kept but its shuffling off (the order is the
point), and pytest's cache left alone (``--lf`` after the search still means the main run).
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from hotlap.safety.bisect import Bisection, TooManyRuns
from hotlap.safety.probe import ENV_PROBE_OUT

#: Options that read or write pytest's cache: with one of them, the cache plugin stays on.
_CACHE_OPTIONS = ("--lf", "--last-failed", "--ff", "--failed-first", "--nf", "--new-first",
                  "--sw", "--stepwise", "--sw-skip", "--stepwise-skip", "--cache-clear",
                  "--randomly-seed=last")  # fmt: skip
#: Seconds one rerun may take before it counts as not failing (a hang is not pollution).
RERUN_TIMEOUT = 300.0


@dataclass
class Verdict:
    """What the search found for one failed test."""

    victim: str
    worker: str
    #: "polluted" (``polluters`` make it fail), "fails alone", "needs" (it fails alone and
    #: passes after the tests ``needs``, in the run's unshuffled order: :func:`find_needed`),
    #: "not reproduced" (its prefix no longer makes it fail), "ran first" (nothing ran
    #: before it), "gave up" (run limit).
    verdict: str
    #: Every polluter found, in the worker's order (the tests of all ``sets``).
    polluters: list[str] = field(default_factory=list)
    prefix: int = 0  # how many tests ran before it on its worker
    runs: int = 0  # extra pytest runs the search took
    #: The hazards the polluters were seen leaving in the run ("env HL_A", "cwd", ...).
    links: list[str] = field(default_factory=list)
    #: The minimal sets found, each of which alone makes the victim fail (one set of two
    #: tests: both are needed; two sets of one: either is enough), or pass ("needs").
    sets: list[list[str]] = field(default_factory=list)
    #: Every test it needs to run before it ("needs"), in the unshuffled order.
    needs: list[str] = field(default_factory=list)

    def line(self, seed: str | None = None) -> str:
        """The headless output's line for this test; with the ``seed`` of a shuffled run,
        a victim of its polluters is an order-dependent test."""
        if self.verdict == "polluted":
            linked = f"; left behind: {', '.join(self.links)}" if self.links else ""
            polluters = " or after ".join(", ".join(s) for s in self.sets or [self.polluters])
            if seed is not None:
                return (f"order-dependent: {self.victim} fails after {polluters} (passes "
                        f"alone; seed {seed}){linked}")  # fmt: skip
            return f"polluted: {self.victim} fails after {polluters} (passes alone){linked}"
        if self.verdict == "needs":
            linked = f"; left behind: {', '.join(self.links)}" if self.links else ""
            needs = " or ".join(", ".join(s) for s in self.sets or [self.needs])
            seeded = f"; seed {seed}" if seed is not None else ""
            return (f"order-dependent: {self.victim} needs {needs} to run before it (fails "
                    f"alone{seeded}){linked}")  # fmt: skip
        runs = f"{self.runs} run" + ("s" if self.runs != 1 else "")
        return f"no polluter: {self.victim} {self.verdict} ({runs})"

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def rerun_options(options: Sequence[str], *, randomly: bool, xdist: bool = True) -> list[str]:
    """The run's pytest ``options`` for a one-process rerun in a given order (``randomly``,
    ``xdist``: whether pytest-randomly and xdist are loaded by them)."""
    args = ["-p", "hotlap.safety.probe", *options]
    if xdist and importlib.util.find_spec("xdist") is not None:
        args += ["-n", "0"]
    args += ["--maxfail=0", "-q"]
    if not any(o.startswith(_CACHE_OPTIONS) for o in options):
        args += ["-p", "no:cacheprovider"]
    if randomly:
        args.append("--randomly-dont-reorganize")
    return args


def randomly_active(options: Sequence[str], cwd: Path | None = None) -> bool:
    """Whether pytest started with ``options`` in ``cwd`` loads pytest-randomly, so that
    its options (``--randomly-seed``) exist: installed, and then, as pytest decides, the last
    ``-p randomly`` / ``-p no:randomly`` of the ini ``addopts``, ``PYTEST_ADDOPTS`` and
    ``options`` (in that order), else plugin autoload (``PYTEST_DISABLE_PLUGIN_AUTOLOAD``,
    ``--disable-plugin-autoload``) or ``PYTEST_PLUGINS`` naming it."""
    from hotlap.runner.command import _ini_addopts, plugin_options

    if importlib.util.find_spec("pytest_randomly") is None:
        return False
    env_addopts = shlex.split(os.environ.get("PYTEST_ADDOPTS", ""))
    opts = [*(_ini_addopts(cwd) if cwd is not None else []), *env_addopts, *options]
    named: bool | None = None
    for name in plugin_options(opts):
        if name in ("randomly", "pytest_randomly"):
            named = True
        elif name in ("no:randomly", "no:pytest_randomly"):
            named = False
    if named is not None:
        return named
    plugins = [p.strip() for p in os.environ.get("PYTEST_PLUGINS", "").split(",")]
    autoload = not os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
    return (autoload and "--disable-plugin-autoload" not in opts) or "pytest_randomly" in plugins


@dataclass
class Rerunner:
    """Runs ``subset`` then ``victim`` in one pytest process; says whether the victim failed."""

    options: list[str]
    cwd: Path
    rootdir: str
    env: dict[str, str]
    runs: int = 0

    def __call__(self, subset: list[str], victim: str) -> bool:
        seen = self._session([self._arg(n) for n in [*subset, victim]])
        return seen is not None and victim in seen["failed"]

    def passes(self, subset: list[str], victim: str) -> bool:
        """Whether ``victim`` passed after ``subset`` (a run that did not finish: no)."""
        seen = self._session([self._arg(n) for n in [*subset, victim]])
        return seen is not None and victim in seen["passed"] and victim not in seen["failed"]

    def session(self, paths: Sequence[str]) -> dict[str, list[str]] | None:
        """One run of ``paths`` (the run's own, in pytest's order): the nodeids that ran (in
        their order), passed and failed; None when the session did not finish."""
        return self._session(list(paths), timeout=4 * RERUN_TIMEOUT)

    def _session(
        self, paths: list[str], timeout: float = RERUN_TIMEOUT
    ) -> dict[str, list[str]] | None:
        self.runs += 1
        fd, out = tempfile.mkstemp(prefix="hotlap-probe-", suffix=".json")
        os.close(fd)
        try:
            args = [sys.executable, "-m", "pytest", *self.options, *paths]
            try:
                subprocess.run(
                    args,
                    cwd=self.cwd,
                    env={**self.env, ENV_PROBE_OUT: out},
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    timeout=timeout,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                return None
            try:
                with open(out, encoding="utf-8") as f:
                    seen = json.load(f)
            except (OSError, ValueError):
                return None  # the session never finished: nothing to say about the victim
            return {key: list(seen.get(key, [])) for key in ("ran", "passed", "failed")}
        finally:
            os.unlink(out)

    def _arg(self, nodeid: str) -> str:
        """``nodeid`` as an argument from ``cwd`` (node ids are relative to the rootdir)."""
        return os.path.join(self.rootdir, nodeid) if self.rootdir else nodeid


def _rerun_before(rerun: Callable[[list[str], str], bool], victim: str, subset: list[str]) -> bool:
    return rerun(subset, victim)


def find_polluters(
    failures: Sequence[str],
    where: Callable[[str], tuple[str, list[str]]],
    rerun: Callable[[list[str], str], bool],
    *,
    limit: int = 64,
) -> list[Verdict]:
    """One :class:`Verdict` per failed test. ``where(victim)``: its worker and the tests
    that worker ran before it; ``rerun(subset, victim)``: whether the victim failed."""
    verdicts = []
    for victim in dict.fromkeys(failures):
        worker, before = where(victim)
        if rerun([], victim):
            verdicts.append(Verdict(victim, worker, "fails alone", prefix=len(before), runs=1))
            continue
        if not before:
            verdicts.append(Verdict(victim, worker, "ran first", runs=1))
            continue
        try:
            sets, runs = _polluter_sets(rerun, victim, before, limit)
        except _GaveUp as stop:
            verdicts.append(Verdict(victim, worker, "gave up", prefix=len(before),
                                    runs=1 + stop.runs))  # fmt: skip
            continue
        order = {n: i for i, n in enumerate(before)}
        sets.sort(key=lambda found: order[found[0]])
        polluters = sorted({n for found in sets for n in found}, key=order.__getitem__)
        verdict = "polluted" if sets else "not reproduced"
        verdicts.append(Verdict(victim, worker, verdict, polluters, len(before), 1 + runs,
                                sets=sets))  # fmt: skip
    return verdicts


class _GaveUp(Exception):
    def __init__(self, runs: int) -> None:
        self.runs = runs


def find_needed(
    verdicts: Sequence[Verdict],
    unshuffled: Callable[[], dict[str, list[str]] | None],
    passes: Callable[[list[str], str], bool],
    *,
    limit: int = 64,
) -> None:
    """Of a shuffled run's tests that fail alone, those that need another test to run before
    them become "needs". ``unshuffled()`` runs the run's tests once in their unshuffled
    order, in one process (one run for all of them); a victim that passed there is bisected,
    like a polluted one, for the fewest tests of what ran before it whose presence makes it
    pass (``passes(subset, victim)``). A victim that fails there too, or did not run, or
    whose pass the reruns do not reproduce, stays "fails alone"."""
    alone = [v for v in verdicts if v.verdict == "fails alone"]
    if not alone:
        return
    seen = unshuffled()
    for verdict in alone:
        verdict.runs += 1
        victim = verdict.victim
        if seen is None or victim not in seen["passed"] or victim in seen["failed"]:
            continue
        before = seen["ran"][: seen["ran"].index(victim)]
        if not before:
            continue  # it passed with nothing before it: not an order it needs
        try:
            sets, runs = _polluter_sets(passes, victim, before, limit, seen=True)
        except _GaveUp as stop:
            verdict.runs += stop.runs
            continue
        verdict.runs += runs
        if sets:
            order = {n: i for i, n in enumerate(before)}
            sets.sort(key=lambda found: order[found[0]])
            verdict.verdict, verdict.sets = "needs", sets
            verdict.needs = sorted({n for found in sets for n in found}, key=order.__getitem__)


def _polluter_sets(
    rerun: Callable[[list[str], str], bool],
    victim: str,
    before: list[str],
    limit: int,
    *,
    seen: bool = False,
) -> tuple[list[list[str]], int]:
    """Every minimal set of ``before`` that makes ``victim`` fail, and the runs it took: a
    set is searched for, taken out, and while the tests left still make the victim fail (one
    run), the next set is searched for among them. Each set was seen failing; each costs its
    check and its bisection, within 2*log2(n)+2 runs of the prefix per set found, and one run
    more says the rest passes. A limit hit after a set was found ends the search there.
    ``seen``: ``before`` was just seen failing (else only in the main run)."""
    sets: list[list[str]] = []
    rest, runs = list(before), 0
    while rest:
        search = Bisection(functools.partial(_rerun_before, rerun, victim), limit=limit - runs)
        try:
            found = search.search(rest, seen=seen or bool(sets))
        except TooManyRuns:
            if not sets:
                raise _GaveUp(runs + search.runs) from None
            return sets, runs + search.runs
        runs += search.runs
        if not found:
            break
        sets.append(found)
        chosen = set(found)
        rest = [n for n in rest if n not in chosen]
        if not rest or runs >= limit:
            break
        runs += 1
        if not rerun(rest, victim):
            break
    return sets, runs
