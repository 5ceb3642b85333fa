"""Parallel safety's commands: the polluter search after ``hotlap run --find-polluters``,
the order of ``hotlap run --shuffle``, ``hotlap safety``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hotlap.model.run_state import RunState
    from hotlap.protocol import Event
    from hotlap.safety.polluters import Rerunner, Verdict


def randomly_seed(args: Sequence[str]) -> str | None:
    """The ``--randomly-seed`` value in ``args``, if any (``-p randomly``'s own option)."""
    for i, arg in enumerate(args):
        if arg.startswith("--randomly-seed="):
            return arg.split("=", 1)[1]
        if arg == "--randomly-seed" and i + 1 < len(args):
            return args[i + 1]
    return None


def shuffle_args(
    ns: argparse.Namespace, args: list[str], cwd: Path
) -> tuple[list[str], dict[str, str]]:
    """``hotlap run --shuffle [--seed N]``: the pytest arguments and environment of a run in
    a random order: pytest-randomly's with its seed when it is active, else hotlap's own
    shuffle (:mod:`hotlap.plugin.shuffle`). Longest-first scheduling is off (under ``-n`` it
    would put the tests back in its own order). The seed is printed and kept in
    ``ns.shuffled`` (``{"by", "seed"}``)."""
    import random

    from hotlap.plugin.shuffle import ENV_SHUFFLE_SEED
    from hotlap.safety.polluters import randomly_active

    ns.schedule = False
    seed = str(ns.seed if ns.seed is not None else random.randrange(2**32))
    env: dict[str, str] = {}
    if randomly_active(args, cwd):
        by, given = "pytest-randomly", randomly_seed(args)
        if given is None:
            args = [*args, f"--randomly-seed={seed}"]
        else:
            seed = given
    else:
        by = "hotlap"
        env[ENV_SHUFFLE_SEED] = seed
    ns.shuffled = {"by": by, "seed": seed}
    print(f"hotlap: tests shuffled by {by}, seed {seed} (the same order: --shuffle --seed "
          f"{seed})", file=sys.stderr)  # fmt: skip
    return args, env


def _rerunner(pytest_args: Sequence[str], cwd: Path, rootdir: str) -> Rerunner:
    """Reruns of the run's tests for the polluter search: its options (pytest-randomly's seed
    kept), in ``cwd``, without hotlap's variables."""
    from hotlap.impact.fingerprint import split_args
    from hotlap.runner.command import xdist_loaded
    from hotlap.safety.polluters import Rerunner, randomly_active, rerun_options

    options, _paths = split_args(list(pytest_args), cwd)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLAP_")}
    rerun = rerun_options(
        options, randomly=randomly_active(options, cwd), xdist=xdist_loaded(options, cwd)
    )
    return Rerunner(rerun, cwd, rootdir, env)


def polluter_line(state: RunState, nodeid: str, pytest_args: Sequence[str], cwd: Path) -> str:
    """The dashboard's ``p``: the polluter search for one failed test of the run shown
    (the worker's order from its records), as the line ``--find-polluters`` prints."""
    from hotlap.safety.order import orders_of_records, ran_before
    from hotlap.safety.polluters import find_polluters

    rerun = _rerunner(pytest_args, cwd, state.session.rootdir)
    orders = orders_of_records(state.tests)

    def where(victim: str) -> tuple[str, list[str]]:
        worker = state.tests[victim].worker
        return worker, ran_before(orders, worker, victim)

    (verdict,) = find_polluters([nodeid], where, rerun)
    links = {p: state.tests[p].hazards for p in verdict.polluters if p in state.tests}
    verdict.links = list(dict.fromkeys(h for p in verdict.polluters for h in links.get(p, [])))
    return verdict.line()


def report_polluters(
    ns: argparse.Namespace, pytest_args: Sequence[str], cwd: Path, events: Sequence[Event]
) -> list[Verdict]:
    """Search the polluters of the run's failed tests (``events``), print one line per
    failed test, and add them to the JSON report when one was written."""
    from hotlap.impact.fingerprint import split_args
    from hotlap.model.run_state import RunState
    from hotlap.protocol import Hazard
    from hotlap.safety.order import ran_before, worker_orders
    from hotlap.safety.polluters import find_needed, find_polluters

    shuffled = getattr(ns, "shuffled", None)
    if getattr(ns, "json", None) and shuffled:
        add_to_report(ns.json, "shuffle", shuffled)
    state = RunState()
    for event in events:
        state.apply(event)
    failures = [n for n in state.failures if n in state.tests]
    if not failures:
        if shuffled:
            seed = shuffled["seed"]
            print(f"hotlap: no test failed in this order (seed {seed})", file=sys.stderr)
        return []
    orders = worker_orders(events)
    rerun = _rerunner(pytest_args, cwd, state.session.rootdir)

    def where(victim: str) -> tuple[str, list[str]]:
        worker = state.tests[victim].worker
        return worker, ran_before(orders, worker, victim)

    print(f"hotlap: looking for polluters of {len(failures)} failed test(s)", file=sys.stderr)
    verdicts = find_polluters(failures, where, rerun)
    if shuffled:
        # A test that fails alone may pass in the unshuffled order: what it needs before it.
        _options, paths = split_args(list(pytest_args), cwd)
        find_needed(verdicts, lambda: rerun.session(paths), rerun.passes)
    left: dict[str, list[str]] = {}
    for e in events:
        if isinstance(e, Hazard):
            left.setdefault(e.nodeid, []).append(f"{e.hazard} {e.name}".strip())
    for verdict in verdicts:
        linked = [*verdict.polluters, *verdict.needs]
        verdict.links = list(dict.fromkeys(h for p in linked for h in left.get(p, [])))
    for verdict in verdicts:
        print(verdict.line(seed=shuffled["seed"] if shuffled else None), flush=True)
    print(f"hotlap: the polluter search took {rerun.runs} pytest run(s)", file=sys.stderr)
    if getattr(ns, "json", None):
        add_to_report(ns.json, "polluters", [v.to_json() for v in verdicts])
    return verdicts


def add_to_report(path: str, key: str, value: object) -> None:
    """The JSON report at ``path`` gets ``key``: ``value`` (after the run wrote it)."""
    from hotlap.export.report import write_report

    try:
        with open(path, encoding="utf-8") as f:
            report = json.load(f)
    except (OSError, ValueError):
        return  # not written (the run said why)
    report[key] = value
    try:
        write_report(path, report)
    except OSError as exc:
        print(f"hotlap: could not add the {key} to {path}: {exc}", file=sys.stderr)


def record_hazards(project: Path, hazards: Sequence[Event], started: float) -> None:
    """Keep the run's hazards in ``.hotlap/safety.json`` (``hotlap safety`` reads them)."""
    from hotlap.paths import STATE_DIR, make_dirs
    from hotlap.protocol import Hazard
    from hotlap.safety.hazards import FILE_NAME, record_run

    found = [h for h in hazards if isinstance(h, Hazard)]
    directory = project / STATE_DIR
    try:
        make_dirs(directory)
        record_run(directory / FILE_NAME, found, started=started)
    except OSError as exc:
        print(f"hotlap: could not record the run's hazards: {exc}", file=sys.stderr)


def safety_main(argv: list[str]) -> int:
    """``hotlap safety [--json]``: what tests left changed in their process in the last runs."""
    from hotlap.commands.options import _Parser
    from hotlap.paths import STATE_DIR
    from hotlap.safety.hazards import FILE_NAME, by_test, conflicts, describe, read_runs

    parser = _Parser(
        prog="hotlap safety",
        description="What tests left changed in their process (environment variables, the "
        "working directory, sys.path) or touched outside their temporary directories (files, "
        "fixed ports) in the last runs, and which tests share it.",
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    ns = parser.parse_args(argv)
    runs = read_runs(Path.cwd() / STATE_DIR / FILE_NAME)
    tests = by_test(runs)
    if ns.json:
        print(json.dumps({"version": 1, "runs": len(runs), "tests": tests}, indent=2))
        return 0
    if not runs:
        print("hotlap: no run recorded here yet (hotlap run records hazards)")
        return 0
    if not tests:
        print(f"no hazards in the last {len(runs)} run(s)")
        return 0
    for nodeid, hazards in tests.items():
        print(nodeid)
        for h in hazards:
            print(f"  {describe(h)}")
    shared = conflicts(tests)
    if shared:
        print(f"\nsuggest @pytest.mark.serial for tests that share state: {', '.join(shared)}")
    return 0
