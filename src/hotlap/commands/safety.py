"""Parallel safety's commands: the polluter search after ``hotlap run --find-polluters``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hotlap.protocol import Event
    from hotlap.safety.polluters import Verdict


def report_polluters(
    ns: argparse.Namespace, pytest_args: Sequence[str], cwd: Path, events: Sequence[Event]
) -> list[Verdict]:
    """Search the polluters of the run's failed tests (``events``), print one line per
    failed test, and add them to the JSON report when one was written."""
    from hotlap.impact.fingerprint import split_args
    from hotlap.model.run_state import RunState
    from hotlap.safety.order import ran_before, worker_orders
    from hotlap.safety.polluters import Rerunner, find_polluters, randomly_active, rerun_options

    state = RunState()
    for event in events:
        state.apply(event)
    failures = [n for n in state.failures if n in state.tests]
    if not failures:
        return []
    orders = worker_orders(events)
    options, _paths = split_args(list(pytest_args), cwd)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLAP_")}
    rerun = Rerunner(
        rerun_options(options, randomly=randomly_active(options)),
        cwd,
        state.session.rootdir,
        env,
    )

    def where(victim: str) -> tuple[str, list[str]]:
        worker = state.tests[victim].worker
        return worker, ran_before(orders, worker, victim)

    print(f"hotlap: looking for polluters of {len(failures)} failed test(s)", file=sys.stderr)
    verdicts = find_polluters(failures, where, rerun)
    for verdict in verdicts:
        print(verdict.line(), flush=True)
    print(f"hotlap: the polluter search took {rerun.runs} pytest run(s)", file=sys.stderr)
    if getattr(ns, "json", None):
        _add_to_report(ns.json, verdicts)
    return verdicts


def _add_to_report(path: str, verdicts: Sequence[Verdict]) -> None:
    """The JSON report at ``path`` with a ``polluters`` list (one entry per failed test)."""
    from hotlap.export.report import write_report

    try:
        with open(path, encoding="utf-8") as f:
            report = json.load(f)
    except (OSError, ValueError):
        return  # not written (the run said why)
    report["polluters"] = [v.to_json() for v in verdicts]
    try:
        write_report(path, report)
    except OSError as exc:
        print(f"hotlap: could not add the polluters to {path}: {exc}", file=sys.stderr)
