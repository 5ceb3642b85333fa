"""``hotlap report``, ``export``, ``merge`` and ``replay``.

Each takes its own arguments, works in the current directory, and answers a user's mistake
with one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from pathlib import Path
from typing import NoReturn

from hotlap.history.store import DB_NAME, LAST_REPORT, HistoryError, HistoryStore


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message}\n")


def _fail(prog: str, message: str, code: int = 1) -> int:
    print(f"{prog}: {message}", file=sys.stderr)
    return code


def _open_existing(prog: str, project: Path) -> HistoryStore | str | None:
    """The project's store, None when there is none, or an error message."""
    directory = project / ".hotlap"
    if not (directory / DB_NAME).exists():
        return None
    try:
        store = HistoryStore.open(directory)
    except (OSError, HistoryError, sqlite3.Error) as exc:
        return f"cannot read {directory / DB_NAME}: {exc}"
    for warning in store.warnings:
        print(f"{prog}: {warning}", file=sys.stderr)
    return store


# -- report ---------------------------------------------------------------------------------
def report_main(argv: list[str]) -> int:
    """``hotlap report [--json] [--last N]``."""
    from hotlap.history.summary import history_summary, render

    prog = "hotlap report"
    parser = _Parser(prog=prog, description="What the recorded runs say about this suite.")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--last", type=int, default=10, metavar="N", help="runs to use (10)")
    ns = parser.parse_args(argv)
    if ns.last < 1:
        return _fail(prog, "--last must be at least 1", 2)
    opened = _open_existing(prog, Path.cwd())
    if isinstance(opened, str):
        return _fail(prog, opened)
    if opened is None:
        summary = {"runs": 0, "last": ns.last}
    else:
        with opened:
            summary = history_summary(opened, ns.last)
    mutation = _mutation_summary(Path.cwd())
    if mutation is not None:
        summary["mutation"] = mutation
    if ns.json:
        print(json.dumps(summary, indent=2))
    elif not summary["runs"]:
        print(f"No history yet in {Path.cwd() / '.hotlap'}: run `hotlap run` here first.")
    else:
        render(summary, sys.stdout)
    if mutation is not None and not ns.json:
        print(_mutation_line(mutation))
    return 0


def _mutation_summary(project: Path) -> dict[str, object] | None:
    """The last ``hotlap mutate`` run (score, counts), if there was one."""
    from hotlap.mutate.store import read_last_run

    last = read_last_run(project)
    if last is None:
        return None
    return {
        "score": last.score,
        "counts": last.counts,
        "start": last.started,
        "wall_time": last.wall,
        "scope": last.scope,
    }


def _mutation_line(mutation: dict[str, object]) -> str:
    import time

    score = mutation["score"]
    counts = mutation["counts"]
    assert isinstance(counts, dict)
    labels = {"no_tests": "no tests"}
    parts = ", ".join(f"{n} {labels.get(k, k)}" for k, n in counts.items() if n)
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(float(mutation["start"])))  # type: ignore[arg-type]
    shown = f"{score:.1f}%" if isinstance(score, float) else "n/a"
    return f"\nmutation score {shown} ({parts}; `hotlap mutate` of {mutation['scope']}, {when})"


# -- export ---------------------------------------------------------------------------------
def averaged_durations(store: HistoryStore, last: int) -> dict[str, float]:
    """Mean seconds per nodeid over the newest ``last`` runs (skips do not count if it ran)."""
    out = {}
    for nodeid, rows in store.tests(last).items():
        ran = [r.duration for r in rows if r.outcome != "skipped"] or [r.duration for r in rows]
        out[nodeid] = round(sum(ran) / len(ran), 6)
    return out


def export_main(argv: list[str]) -> int:
    """``hotlap export --durations PATH`` / ``--json PATH``."""
    from hotlap.export.durations import write_durations
    from hotlap.export.files import atomic_write
    from hotlap.export.report import dumps_report

    prog = "hotlap export"
    parser = _Parser(prog=prog, description="Export history for CI tools.")
    parser.add_argument(
        "--durations", metavar="PATH", help="pytest-split .test_durations, averaged over runs"
    )
    parser.add_argument("--json", metavar="PATH", help="the last run's JSON report")
    parser.add_argument("--last", type=int, default=5, metavar="N", help="runs to average (5)")
    ns = parser.parse_args(argv)
    if not ns.durations and not ns.json:
        return _fail(prog, "nothing to export: give --durations PATH and/or --json PATH", 2)
    project = Path.cwd()
    if ns.json:
        source = project / ".hotlap" / LAST_REPORT
        try:
            text = source.read_text(encoding="utf-8")
        except OSError:
            return _fail(prog, f"no report of a last run in {source.parent}: run `hotlap run`")
        try:
            report = json.loads(text)
        except ValueError:
            return _fail(prog, f"{source} is not a JSON report: run `hotlap run` again")
        try:
            atomic_write(ns.json, dumps_report(report))
        except OSError as exc:
            return _fail(prog, f"cannot write {ns.json}: {exc.strerror or exc}")
        print(f"{prog}: wrote {ns.json}", file=sys.stderr)
    if ns.durations:
        opened = _open_existing(prog, project)
        if isinstance(opened, str):
            return _fail(prog, opened)
        if opened is None:
            return _fail(prog, f"no history in {project / '.hotlap'}: run `hotlap run` first")
        with opened:
            durations = averaged_durations(opened, max(1, ns.last))
        if not durations:
            return _fail(prog, "history has no test durations yet")
        try:
            write_durations(ns.durations, durations)
        except OSError as exc:
            return _fail(prog, f"cannot write {ns.durations}: {exc.strerror or exc}")
        print(f"{prog}: wrote {len(durations)} durations to {ns.durations}", file=sys.stderr)
    return 0


# -- merge ----------------------------------------------------------------------------------
def merge_main(argv: list[str]) -> int:
    """``hotlap merge OUT IN...``: one durations file, report or record from CI shards."""
    from hotlap.export.durations import write_durations
    from hotlap.export.merge import MergeError, merge_files
    from hotlap.export.record import write_record
    from hotlap.export.report import write_report

    prog = "hotlap merge"
    parser = _Parser(
        prog=prog,
        description="Merge .test_durations files, hotlap JSON reports or event records "
        "(--record) from CI shards.",
    )
    parser.add_argument("out", metavar="OUT")
    parser.add_argument("inputs", metavar="IN", nargs="+")
    parser.add_argument(
        "--allow-duplicates", action="store_true", help="a test in several inputs is not an error"
    )
    parser.add_argument(
        "--allow-mismatch", action="store_true", help="merge reports of different tool versions"
    )
    parser.add_argument(
        "--base",
        metavar="PATH",
        help="the .test_durations the shards started from: a shard's copy of a test's seconds "
        "is not a measurement of it",
    )
    ns = parser.parse_args(argv)
    try:
        kind, merged, warnings = merge_files(
            ns.inputs,
            allow_duplicates=ns.allow_duplicates,
            allow_mismatch=ns.allow_mismatch,
            base=ns.base,
        )
    except MergeError as exc:
        return _fail(prog, str(exc))
    for warning in warnings:
        print(f"{prog}: warning: {warning}", file=sys.stderr)
    try:
        if kind == "durations":
            write_durations(ns.out, merged)
        elif kind == "record":
            write_record(ns.out, merged)
        else:
            write_report(ns.out, merged)
    except OSError as exc:
        return _fail(prog, f"cannot write {ns.out}: {exc.strerror or exc}")
    if kind == "durations":
        what = f"{len(merged)} tests"
    elif kind == "record":
        lanes = sorted({e.worker for e in merged if e.kind == "worker_start"})
        what = f"{len(merged)} events, lanes {' '.join(lanes) or '-'}"
    else:
        what = f"{len(merged['tests'])} tests"
    print(f"{prog}: {len(ns.inputs)} inputs, {what} -> {ns.out}", file=sys.stderr)
    return 0


# -- replay ---------------------------------------------------------------------------------
def replay_main(argv: list[str]) -> int:
    """``hotlap replay RUN.jsonl [--speed X] [--headless]``."""
    from hotlap.model.run_state import RunState
    from hotlap.runner.replay import ReplaySource

    prog = "hotlap replay"
    parser = _Parser(prog=prog, description="Replay a recorded run (--record) locally.")
    parser.add_argument("record", metavar="RUN.jsonl")
    parser.add_argument(
        "--speed", type=float, default=1.0, metavar="X", help="X times as fast; 0: all at once"
    )
    parser.add_argument("--headless", action="store_true", help="no dashboard, a compact log")
    ns = parser.parse_args(argv)
    if ns.speed < 0:
        return _fail(prog, "--speed must be 0 (instant) or more", 2)
    try:
        source = ReplaySource.from_file(ns.record, speed=ns.speed)
    except OSError as exc:
        return _fail(prog, f"cannot read {ns.record}: {exc.strerror or exc}")
    if not source.events:
        return _fail(prog, f"{ns.record} holds no hotlap events")
    # The recorded run's own durations make the replay's ETA exact.
    from hotlap.export.durations import durations_from_state

    full = RunState()
    for event in source.events:
        full.apply(event)
    expected = durations_from_state(full)
    state = RunState()
    if ns.headless or not sys.stdout.isatty():
        from hotlap.history.eta import eta_seconds
        from hotlap.runner.headless import run_headless

        code = run_headless(source, state, expected=expected, eta=eta_seconds, interval=2.0)
        return code
    from hotlap.resources.cores import effective_cores
    from hotlap.ui.app import run_dashboard

    return run_dashboard(
        source,
        state,
        title=f"hotlap replay · {Path(ns.record).name}",
        pytest_args=[],
        effective_cores=effective_cores(),
        expected=expected,
        slow_threshold=1.0,
        start_run=None,
    )
