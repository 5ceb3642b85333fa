"""History around a ``hotlap run``: expected durations and scheduling before, recording after.

Neither method raises: history makes runs faster and reports richer, but a broken or
read-only ``.hotlap`` directory only turns it off with a note.
"""

from __future__ import annotations

import contextlib
import dataclasses
import marshal
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hotlap.channel import ENV_EXPECTED, ENV_WORKERS_SEEN
from hotlap.export.files import atomic_write_bytes
from hotlap.history.plan import fixture_groups, schedule_payload, write_schedule
from hotlap.history.rows import DB_NAME, DEFAULT_KEEP, FixtureRow, HistoryError, TestRow
from hotlap.history.workers import record as record_workers
from hotlap.history.workers import seen_for, selection_key
from hotlap.model.run_context import RunContext

if TYPE_CHECKING:
    from hotlap.export.report import RunMeta
    from hotlap.history.store import HistoryStore, RunRows
    from hotlap.model.run_state import RunState

#: Environment variables the plugin modules read on the controller and the workers.
ENV_SCHEDULE = "HOTLAP_SCHEDULE"
ENV_SLOW_THRESHOLD = "HOTLAP_SLOW_THRESHOLD"
ENV_FAIL_UNMARKED_SLOW = "HOTLAP_FAIL_UNMARKED_SLOW"
ENV_RERUNS = "HOTLAP_RERUNS"

#: Runs whose durations a regression is judged against.
BASELINE_RUNS = 10
#: Runs whose durations give a test's expected seconds (ETA, scheduling).
EXPECTED_RUNS = 5
#: Runs whose outcomes flaky detection looks at after each run.
FLAKY_RUNS = 20


def history_dir(project: Path) -> Path:
    return project / ".hotlap"


class HistoryHooks:
    """The :class:`~hotlap.runner.hooks.RunHooks` of the history subsystem."""

    def __init__(self) -> None:
        self.enabled = False
        self.fingerprint = ""
        self.schedule_path: Path | None = None
        self._workers_key: str | None = None
        self._runs_before = 0
        #: ``{"regressions": [...], "flaky": [...]}`` of the finished run, for its JSON report.
        self.summary: dict[str, Any] | None = None
        #: Where the finished run was recorded, and its id there (for :meth:`amend`).
        self._recorded: tuple[Path, int] | None = None
        #: What preparation read, and the store's files then (:func:`_store_key`).
        self._known: Prepared | None = None
        self._known_key: list[list[int] | None] | None = None

    # -- before the run ---------------------------------------------------------------------
    def prepare(self, ctx: RunContext) -> None:
        try:
            self._plugin_env(ctx)
            if getattr(ctx.options, "no_history", False):
                return
            self._prepare(ctx)
        except Exception as exc:  # history must never stop a run
            self.enabled = False
            ctx.notes.append(f"history off: {type(exc).__name__}: {exc}")

    @staticmethod
    def _plugin_env(ctx: RunContext) -> None:
        opts = ctx.options
        threshold = getattr(opts, "slow_threshold", None)
        if threshold is not None:
            ctx.env[ENV_SLOW_THRESHOLD] = repr(float(threshold))
        if getattr(opts, "fail_unmarked_slow", False):
            ctx.env[ENV_FAIL_UNMARKED_SLOW] = "1"
        reruns = int(getattr(opts, "reruns", 0) or 0)
        if reruns > 0:
            ctx.env[ENV_RERUNS] = str(reruns)

    def _prepare(self, ctx: RunContext) -> None:
        directory = history_dir(ctx.project)
        wait_written()  # watch: the last cycle's run may still be writing
        known = load_prepared(directory)
        if known is None:
            # Only now the store (and sqlite3, ~9 ms to import): a warm run reads its cache.
            import sqlite3

            from hotlap.history.store import HistoryStore

            try:
                store = HistoryStore.open(directory)
            except (OSError, HistoryError, sqlite3.Error) as exc:
                ctx.notes.append(f"history off: {exc}")
                return
            try:
                ctx.notes.extend(store.warnings)
                known = Prepared.read(store)
            finally:
                store.close()
        self.enabled = True
        self._known, self._known_key = known, _store_key(directory)
        runs, fixtures = known.runs, known.fixtures
        self._runs_before = runs
        if runs:
            ctx.expected.update(known.expected)
            ctx.baseline = known.baseline
            ctx.peak_rss = known.peak_rss
            ctx.notes.append(f"history: {runs} run{'s' * (runs != 1)}")
        # An --affected run's tests are chosen after this (impact hooks replace the
        # arguments): the same command line selects other tests each time.
        affected = getattr(ctx.options, "affected", False)
        self._workers_key = None if affected else selection_key(ctx.pytest_args, os.environ)
        seen = seen_for(directory, self._workers_key)
        if seen is not None:
            ctx.env[ENV_WORKERS_SEEN] = seen
        if ctx.expected:
            # Read by the choice of -n (always) and by the scheduler (unless --no-schedule).
            groups = fixture_groups(fixtures, ctx.expected, workers=os.cpu_count() or 2)
            path = directory / f"schedule-{os.getpid()}.json"
            write_schedule(path, schedule_payload(ctx.expected, groups))
            self.schedule_path = path
            ctx.env[ENV_EXPECTED] = str(path)
            if getattr(ctx.options, "schedule", True):
                ctx.env[ENV_SCHEDULE] = str(path)

    def started(self, ctx: RunContext) -> None:
        """pytest has been started: fingerprint the project's sources now, not on the way to
        pytest's start (a walk of the tree and hashlib's import, ~10 ms of the ~90 ms from
        ``hotlap`` to pytest on click). pytest spends its first ~100 ms importing, and reads
        no project file meanwhile: the walk still sees the sources it will run."""
        if not self.enabled or getattr(ctx.options, "no_history", False):
            return
        from hotlap.history.fingerprint import source_fingerprint

        self.fingerprint = source_fingerprint(ctx.project)

    # -- after the run ----------------------------------------------------------------------
    def finish(self, ctx: RunContext, state: RunState, meta: RunMeta) -> list[str]:
        try:
            return self._finish(ctx, state, meta)
        except Exception as exc:
            return [f"history: not recorded ({type(exc).__name__}: {exc})"]
        finally:
            if self.schedule_path is not None:
                with contextlib.suppress(OSError):
                    self.schedule_path.unlink()

    def _finish(self, ctx: RunContext, state: RunState, meta: RunMeta) -> list[str]:
        from hotlap.history.analysis import find_flaky, regressions
        from hotlap.history.fingerprint import impact_deps
        from hotlap.history.store import run_rows

        if not self.enabled or getattr(ctx.options, "no_history", False):
            return []
        if state.session.dry_run or not any(
            rec.finished is not None for rec in state.tests.values()
        ):
            return []  # nothing ran (--collect-only, --setup-plan, …): nothing to learn
        directory = history_dir(ctx.project)
        keep = int(getattr(ctx.options, "history_keep", DEFAULT_KEEP) or DEFAULT_KEEP)
        ran = {rec.nodeid for rec in state.tests.values() if rec.finished is not None}
        # Impact data describes this run only once it is merged; it is merged later (in the
        # background, or at the next start) unless the impact hooks finished first and merged
        # it. Otherwise the project fingerprint decides. (It was judged by the store's mtime,
        # which a merge of an earlier run during this one also changes: the digests were then
        # the earlier run's, computed for every test before the summary line was shown.)
        deps = impact_deps(ctx.project, ran) if ctx.impact_merged else {}
        fingerprint = self.fingerprint
        shuffled = getattr(ctx.options, "shuffled", None)
        if shuffled:
            # A --shuffle run's outcomes depend on its order too (the polluter search names
            # the tests that fail by it): flakiness compares it only with runs in its order.
            tag = f" order:{shuffled['by']}:{shuffled['seed']}"
            fingerprint = fingerprint and fingerprint + tag
            deps = {nodeid: digest + tag for nodeid, digest in deps.items() if digest}
        rows = run_rows(state, meta, fingerprint=fingerprint, deps=deps)
        flaky = find_flaky(self._flaky_history(directory, rows, keep))
        slower = regressions(state, ctx.baseline)
        summary = {
            "regressions": [r.as_dict() for r in slower],
            "flaky": [f.as_dict() for f in flaky],
        }
        self.summary = summary
        messages = [r.message for r in slower] + [f.message for f in flaky]
        # Written even when recording failed: the run's report is never lost. Built here
        # (the state is the main thread's), as is all the run's store needs.
        report = _last_report(state, meta, summary)
        workers = self._workers_row(state, meta)
        if not ctx.exits_after_run:
            return self._store(directory, rows, keep, workers, report, say=False) + messages
        # Headless: pytest's summary line is shown when this returns. Storing the run (~0.1 s
        # at 2,000 tests) overlaps pytest's shutdown on a thread the interpreter waits for;
        # what could only be said after the write (a store that could not be written) is
        # said on stderr then.
        _write_later(lambda: self._store(directory, rows, keep, workers, report, say=True))
        return messages

    def _store(
        self,
        directory: Path,
        rows: RunRows,
        keep: int,
        workers: tuple[int, float, int, float] | None,
        report: dict[str, Any] | None,
        *,
        say: bool,
    ) -> list[str]:
        """Record the run, what its -n taught, its report and the next run's preparation;
        the warnings (printed to stderr when ``say``)."""
        store, messages = record(directory, rows, keep=keep)
        if store is not None:
            self._recorded = (directory, store.last_run_id)
            store.close()
        if workers is not None:
            record_workers(directory, self._workers_key, *workers)
        _after_run(directory, report, store is not None, say)
        if say and messages:
            print("\n".join(f"hotlap: {m}" for m in messages), file=sys.stderr)
        return messages

    def _flaky_history(self, directory: Path, rows: RunRows, keep: int) -> dict[str, list[TestRow]]:
        """The rows :func:`find_flaky` judges, before this run is stored: per test of this run
        that failed or was rerun in the runs flaky detection looks at (this one and the
        ``min(FLAKY_RUNS, keep) - 1`` before it), its rows there, this run's last.

        Read from what preparation read (:class:`Prepared` keeps the candidates of the runs
        before) while the store is as it was then; the store is opened only for a test that
        fails now and did not before, or when another process recorded a run meanwhile."""
        import sqlite3

        from hotlap.history.analysis import VERDICTS
        from hotlap.history.store import HistoryStore

        before = min(FLAKY_RUNS, max(1, keep)) - 1
        this = {row.nodeid: row for row in rows.test_rows(_THIS_RUN)}
        failing = {n for n, r in this.items() if r.reruns or not VERDICTS.get(r.outcome, True)}
        known = self._known
        history: dict[str, list[TestRow]] = {}
        ask: set[str] | None = failing  # what to read from the store (None: every candidate)
        if known is None or self._known_key != _store_key(directory):
            ask = None
        elif before:
            ids = set(known.flaky_runs[-before:])
            history = {
                n: [r for r in found if r.run_id in ids]
                for n, found in known.flaky.items()
                if n in this
            }
            ask = failing - known.flaky.keys()
        if before and (ask is None or ask):
            try:
                with HistoryStore.open(directory) as store:
                    if ask is None:
                        ask = store.changing(before, VERDICTS) | failing
                    history.update(store.tests(before, only=ask & this.keys()))
            except (OSError, HistoryError, sqlite3.Error):
                pass  # judged on this run alone (recording says what is wrong with the store)
        return {n: [*history.get(n, []), this[n]] for n in (history.keys() | failing) if n in this}

    def _workers_row(self, state: RunState, meta: RunMeta) -> tuple[int, float, int, float] | None:
        """What a run whose -n hotlap chose says for its next choice with these arguments
        (``-n``, wall time, tests, their seconds), or None when it says nothing."""
        if not state.session.workers_reason or meta.cancelled or meta.exit_code not in (0, 1):
            return None
        if not self._runs_before:
            return None  # a project's first run is slower for other reasons (caches, compiling)
        done = [rec for rec in state.tests.values() if rec.finished is not None]
        seconds = sum(rec.duration for rec in done)
        return (state.session.numprocesses, meta.wall_time, len(done), seconds)

    def amend(self, ctx: RunContext, state: RunState, meta: RunMeta) -> list[str]:
        """pytest exited with another code than its session ended with: correct the record
        and the saved report (the run's tests and findings stay as they were)."""
        import sqlite3

        from hotlap.history.store import HistoryStore

        wait_written()
        if self._recorded is None:
            return []
        directory, run_id = self._recorded
        try:
            with HistoryStore.open(directory) as store:
                store.amend_run(run_id, state, meta)
        except (OSError, HistoryError, sqlite3.Error) as exc:
            return [f"history: exit code not corrected ({exc})"]
        return save_last_report(directory, state, meta, self.summary)


#: What the next run's preparation reads from the store, saved by the run before it.
PREPARED_FILE = "prepared.bin"
PREPARED_VERSION = 2
#: The run id this run's rows carry while flaky tests are judged, before it is stored.
_THIS_RUN = 1 << 62


@dataclass
class Prepared:
    """What a run needs from history before pytest starts, and what judging its flaky tests
    needs from the runs before it."""

    runs: int
    expected: dict[str, float]
    baseline: dict[str, list[float]]
    peak_rss: int
    fixtures: list[FixtureRow]
    #: The ids of the newest ``FLAKY_RUNS - 1`` runs, oldest first.
    flaky_runs: list[int] = dataclasses.field(default_factory=list)
    #: The rows there of each test that failed or was rerun there (``store.changing``).
    flaky: dict[str, list[TestRow]] = dataclasses.field(default_factory=dict)

    @classmethod
    def read(cls, store: HistoryStore) -> Prepared:
        from hotlap.history.analysis import VERDICTS
        from hotlap.history.store import duration_samples, expected_seconds

        runs = store.run_count()
        if not runs:
            return cls(0, {}, {}, 0, [])
        # One read serves both: expected seconds from the newest EXPECTED_RUNS runs, the
        # regression baseline from the newest BASELINE_RUNS.
        recent = store.recent(max(BASELINE_RUNS, EXPECTED_RUNS))
        since = store.first_run_id(EXPECTED_RUNS) or 0
        before = FLAKY_RUNS - 1
        return cls(
            runs,
            expected_seconds(recent, since),
            duration_samples(recent),
            store.peak_rss(),
            store.fixtures(5),
            [run.id for run in store.runs(before)],
            store.tests(before, only=store.changing(before, VERDICTS)),
        )


def _store_key(directory: Path) -> list[list[int] | None]:
    """The store's files as they are now: any write changes a size or a modification time."""
    key: list[list[int] | None] = []
    for name in (DB_NAME, DB_NAME + "-wal"):
        try:
            st = os.stat(directory / name)
        except OSError:
            key.append(None)
        else:
            key.append([st.st_size, st.st_mtime_ns])
    return key


def save_prepared(directory: Path, known: Prepared) -> None:
    """Keep ``known`` for the next run, keyed by the store's files as they are now.

    Written after a run (while pytest shuts down), so that the next run's preparation, which
    comes before pytest can start, is one small read instead of opening SQLite and reading
    the newest runs (~60 ms at 2,000 tests). ``marshal``, not JSON: ~10x faster to load.
    """
    fixtures = [dataclasses.astuple(f) for f in known.fixtures]
    flaky = {n: [dataclasses.astuple(r) for r in rows] for n, rows in known.flaky.items()}
    payload = (
        PREPARED_VERSION,
        sys.version,
        _store_key(directory),
        (
            known.runs,
            known.expected,
            known.baseline,
            known.peak_rss,
            fixtures,
            known.flaky_runs,
            flaky,
        ),
    )
    with contextlib.suppress(OSError, ValueError):  # only a faster start is lost
        atomic_write_bytes(directory / PREPARED_FILE, marshal.dumps(payload))


def load_prepared(directory: Path) -> Prepared | None:
    """What :func:`save_prepared` kept, if the store has not changed since; else None."""
    try:
        data = (directory / PREPARED_FILE).read_bytes()
        version, python, key, body = marshal.loads(data)
        if version != PREPARED_VERSION or python != sys.version:
            return None
        if key != _store_key(directory):
            return None
        runs, expected, baseline, peak_rss, fixtures, flaky_runs, flaky = body
        return Prepared(
            runs,
            expected,
            baseline,
            peak_rss,
            [FixtureRow(*f) for f in fixtures],
            flaky_runs,
            {n: [TestRow(*r) for r in rows] for n, rows in flaky.items()},
        )
    except (OSError, ValueError, TypeError, EOFError):
        return None


def suggest_workers(ctx: RunContext, effective_cores: float, mem_available: int) -> int | None:
    """``-n`` from effective cores and the per-worker peak RSS history recorded; None if unknown.

    Reads what :meth:`HistoryHooks.prepare` put on ``ctx``; None when there is no history
    (the caller keeps its own choice).
    """
    from hotlap.history.plan import auto_workers

    if not ctx.expected:
        return None
    return auto_workers(effective_cores, ctx.peak_rss, mem_available, len(ctx.expected))


def record(
    directory: Path, rows: RunRows, *, keep: int = DEFAULT_KEEP
) -> tuple[HistoryStore | None, list[str]]:
    """Record a run (:func:`~hotlap.history.store.run_rows`); a store found corrupt now is
    moved aside and the run goes to a fresh one.

    Returns the open store (the caller closes it), or None, and warnings for the user.
    """
    import sqlite3

    from hotlap.history.store import HistoryStore

    warnings: list[str] = []
    for attempt in range(2):
        try:
            store = HistoryStore.open(directory)
        except (OSError, HistoryError, sqlite3.Error) as exc:
            return None, [*warnings, f"history: not recorded ({exc})"]
        warnings.extend(store.warnings)
        try:
            store.record_rows(rows, keep)
            return store, warnings
        except sqlite3.DatabaseError as exc:
            store.close()
            busy = isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)
            if busy or attempt:
                return None, [*warnings, f"history: not recorded ({exc})"]
            aside = HistoryStore._move_aside(store.path)
            warnings.append(f"history: {store.path} was corrupt ({exc}); moved to {aside.name}")
    return None, warnings  # pragma: no cover


_writer: threading.Thread | None = None


def wait_written() -> None:
    """Wait for what the last run left to write (see :func:`_write_later`)."""
    writer = _writer
    if writer is not None:
        writer.join()


def _write_later(work: Callable[[], object]) -> None:
    """Run ``work`` on a thread the interpreter waits for at exit (not a daemon: nothing is
    lost when hotlap ends first); a later run's preparation waits for it too."""
    global _writer
    wait_written()
    _writer = threading.Thread(target=work, name="hotlap-history-writer")
    _writer.start()


def _last_report(state: RunState, meta: RunMeta, summary: dict[str, Any]) -> dict[str, Any] | None:
    from hotlap.export.report import build_report

    try:
        return build_report(state, meta, history=summary)
    except Exception:  # a report that cannot be built is not saved, as one not written
        return None


def _after_run(directory: Path, report: dict[str, Any] | None, recorded: bool, say: bool) -> None:
    """The run's report, and what the next run's preparation reads (:class:`Prepared`)."""
    import sqlite3

    from hotlap.export.report import write_report
    from hotlap.history.store import LAST_REPORT, HistoryStore

    problems = []
    if report is not None:
        try:
            write_report(directory / LAST_REPORT, report, compact=True)
        except OSError as exc:
            problems.append(f"history: last report not saved ({exc})")
    if recorded:
        try:
            with HistoryStore.open(directory) as store:
                known = Prepared.read(store)
            # After the close (which may checkpoint the WAL): the key is the files as left.
            save_prepared(directory, known)
        except (OSError, HistoryError, sqlite3.Error):
            pass  # only a faster start is lost: the next run reads the store
    if problems and say:
        print("\n".join(f"hotlap: {p}" for p in problems), file=sys.stderr)


def save_last_report(
    directory: Path, state: RunState, meta: RunMeta, history: dict[str, Any] | None = None
) -> list[str]:
    """Keep the run's full JSON report for ``hotlap export --json``; warnings if it fails."""
    from hotlap.export.report import build_report, write_report
    from hotlap.history.store import LAST_REPORT

    try:
        # Kept compact (written after every run); ``hotlap export --json`` indents it.
        report = build_report(state, meta, history=history)
        write_report(directory / LAST_REPORT, report, compact=True)
    except OSError as exc:
        return [f"history: last report not saved ({exc})"]
    return []


def make_hooks(ctx: RunContext) -> HistoryHooks:
    """The history hooks for one ``hotlap run`` (see :mod:`hotlap.runner.hooks`)."""
    return HistoryHooks()
