"""``hotlap mutate [PATH[::FUNCTION]...] [--changed] [--headless] [--json PATH]
[--fail-under PCT]``: would the tests notice this code being wrong?"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from hotlap.commands.options import UsageError

if TYPE_CHECKING:
    from hotlap.mutate.session import MutationRun
    from hotlap.mutate.state import StrengthState


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


def parse_mutate_args(argv: list[str]) -> argparse.Namespace:
    parser = _Parser(
        prog="hotlap mutate",
        allow_abbrev=False,
        description="Mutate the project's code in memory and rerun only the tests that run "
        "it (from the impact data of the last `hotlap run`): what survives, no test noticed.",
    )
    parser.add_argument(
        "paths",
        nargs="*",
        metavar="PATH[::FUNCTION]",
        help="files, directories or globs to mutate, optionally one function or class "
        "(default: every project file a recorded test imports)",
    )
    parser.add_argument(
        "--changed",
        action="store_true",
        help="only the code changed since the last `hotlap mutate` run",
    )
    parser.add_argument(
        "--headless",
        action="store_true",
        help="no dashboard: a live log (automatic when stdout is not a terminal or CI is set)",
    )
    parser.add_argument("--json", metavar="PATH", help="write the results as JSON to PATH")
    parser.add_argument(
        "--fail-under",
        type=float,
        default=None,
        metavar="PCT",
        help="exit 1 when the mutation score is below PCT percent",
    )
    parser.add_argument(
        "-n",
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="mutants tested at once (default: the effective cores)",
    )
    parser.add_argument(
        "--progress-interval",
        type=float,
        default=None,
        metavar="SECONDS",
        help="seconds between headless progress lines (default 2, 10 under CI)",
    )
    return parser.parse_args(argv)


def mutate_main(argv: list[str]) -> int:
    """Entry point of ``hotlap mutate``; exit 0, or 1 under ``--fail-under``, 2 when
    interrupted, 4 for a usage error (no impact data)."""
    from hotlap.mutate.process import spawn_worker

    ns = parse_mutate_args(argv)
    if ns.fail_under is not None and not 0 <= ns.fail_under <= 100:
        raise UsageError("--fail-under takes a percentage between 0 and 100")
    cwd = Path.cwd()
    # First: pytest's import in the worker is the longest part of a small run's start; it
    # overlaps hotlap's own imports and the planning.
    worker = spawn_worker(cwd)
    from hotlap.mutate.prepare import PrepareError, prepare_run

    try:
        run, notes = prepare_run(
            cwd, ns.paths, changed=ns.changed, workers=ns.workers, worker=worker
        )
    except PrepareError as exc:
        print(f"hotlap mutate: {exc}", file=sys.stderr)
        return 4
    headless = bool(ns.headless or os.environ.get("CI") or not sys.stdout.isatty())
    from hotlap.mutate.state import StrengthState

    state = StrengthState(len(run.plan.mutants))
    for note in notes:
        print(f"hotlap mutate: {note}", file=sys.stderr)
    if headless:
        interval = ns.progress_interval or (10.0 if os.environ.get("CI") else 2.0)
        code = _headless(run, state, sys.stdout, interval)
    else:
        from hotlap.ui.strength import run_strength_dashboard

        code = run_strength_dashboard(run, state, title=f"hotlap mutate · {cwd.name}")
        _print_listing(state, sys.stdout)
    if ns.json:
        from hotlap.export.files import atomic_write

        try:
            atomic_write(ns.json, json.dumps(state.report(), indent=2) + "\n")
        except OSError as exc:
            print(f"hotlap mutate: cannot write {ns.json}: {exc.strerror or exc}", file=sys.stderr)
            return 4
    if code:
        return code
    score = state.score
    if ns.fail_under is not None and (score or 0.0) < ns.fail_under:
        print(
            f"hotlap mutate: score {score or 0.0:.1f}% is under --fail-under {ns.fail_under:g}%",
            file=sys.stderr,
        )
        return 1
    return 0


def _print_listing(state: StrengthState, out: TextIO) -> None:
    from hotlap.mutate.state import render_text

    for line in render_text(state):
        out.write(line + "\n")
    for note in state.notes:
        out.write(f"note: {note}\n")
    out.write(state.summary_line() + "\n")
    out.flush()


def _headless(run: MutationRun, state: StrengthState, out: TextIO, interval: float) -> int:
    """Live log: the plan, each survivor as it is found, a progress line every ``interval``
    seconds, then the listing per function and the score."""
    from hotlap.mutate.events import Finished, MutantResult, Note
    from hotlap.mutate.state import survivor_line

    plan = run.plan
    blocks = len({(m.file, m.block) for m in plan.mutants})
    files = len({m.file for m in plan.mutants})
    out.write(
        f"hotlap mutate: {len(plan.mutants)} mutants in {blocks} blocks of {files} files, "
        f"{len(plan.tests)} tests, {run.options.workers} at a time\n"
    )
    out.flush()
    run.start()
    next_progress = time.monotonic() + interval
    try:
        while True:
            for event in run.drain():
                state.apply(event)
                if isinstance(event, MutantResult) and event.verdict.status == "survived":
                    m = event.mutant
                    if not event.verdict.cached:
                        out.write(f"SURVIVED {m.file}::{m.block} {survivor_line(event)}\n")
                elif isinstance(event, Note):
                    out.write(f"hotlap mutate: {event.text}\n")
            if state.finished is not None:
                break
            if time.monotonic() >= next_progress:
                out.write(state.progress() + "\n")
                next_progress = time.monotonic() + interval
            out.flush()
            time.sleep(0.05)
    except KeyboardInterrupt:
        run.cancel()
        run.wait(10)
        for event in run.drain():
            state.apply(event)
        out.write("hotlap mutate: interrupted\n")
        _print_listing(state, out)
        return 2
    _print_listing(state, out)
    return 2 if isinstance(state.finished, Finished) and state.finished.cancelled else 0
