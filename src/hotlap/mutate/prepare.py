"""From a project directory to a ready :class:`~hotlap.mutate.session.MutationRun`: the impact
data, history's test durations, the stored results (for ``--changed`` and the order of
tests), the plan."""

from __future__ import annotations

from pathlib import Path

from hotlap.impact.store import ImpactStore
from hotlap.mutate.plan import Scope, build_plan
from hotlap.mutate.session import MutationRun, RunOptions, Worker
from hotlap.mutate.store import MutateStore, store_path


class PrepareError(Exception):
    """The run cannot start (no impact data); the message says what to do."""


def _durations(project: Path) -> dict[str, float]:
    """Expected seconds per test, from history (empty without one)."""
    from hotlap.history.store import DB_NAME, HistoryError, HistoryStore

    if not (project / ".hotlap" / DB_NAME).exists():
        return {}
    try:
        with HistoryStore.open(project / ".hotlap") as history:
            return history.expected(5)
    except (OSError, HistoryError, Exception):
        return {}


def current_checksums(project: Path) -> dict[tuple[str, str], str]:
    """Checksums of every block of the project's source files (those impact data knows) as
    they are on disk now."""
    from hotlap.impact.blocks import MODULE, analyse_source
    from hotlap.mutate.plan import is_test_file

    db = project / ".hotlap" / "impact.sqlite3"
    if not db.exists():
        return {}
    impact = ImpactStore(db)
    try:
        root = Path(impact.get_meta("rootdir", str(project)))
        files = {f for f, _n, _c in impact.items().values() if f.endswith(".py")}
    finally:
        impact.close()
    found: dict[tuple[str, str], str] = {}
    for rel in sorted(files):
        if is_test_file(rel):
            continue
        try:
            info = analyse_source((root / rel).read_bytes())
        except OSError:
            continue
        found[(rel, MODULE)] = info.module
        for name, block in info.blocks.items():
            found[(rel, name)] = block.checksum
    return found


def default_workers() -> int:
    from hotlap.resources.cores import effective_cores, worker_count

    return worker_count(effective_cores())


def prepare_run(
    project: Path,
    paths: list[str],
    *,
    changed: bool = False,
    workers: int | None = None,
    only: dict[str, set[str]] | None = None,
    since: dict[tuple[str, str], str] | None = None,
    worker: Worker | None = None,
) -> tuple[MutationRun, list[str]]:
    """The run for ``paths`` (``PATH[::FUNCTION]``) in ``project``, and notes for the user.
    ``changed``: only blocks changed since the last run (or since ``since``'s checksums);
    ``only``: file -> blocks to mutate; ``worker``: one started beforehand (see
    :func:`start_worker`), used if it fits, else stopped."""
    try:
        return _prepare(project, paths, changed, workers, only, since, worker)
    except BaseException:
        if worker is not None:
            worker.stop()
        raise


def start_worker(project: Path) -> Worker | None:
    """A worker for ``project``'s next run, importing pytest while the run is planned (None
    when there is no impact data to plan from)."""
    from hotlap.mutate.process import spawn_worker

    return spawn_worker(project)


def _prepare(
    project: Path,
    paths: list[str],
    changed: bool,
    workers: int | None,
    only: dict[str, set[str]] | None,
    since: dict[tuple[str, str], str] | None,
    worker: Worker | None,
) -> tuple[MutationRun, list[str]]:
    from hotlap.impact.pending import merge_pending

    # The last run's dependencies may still wait to be merged (a run ends before its merge).
    merged = [m for m in merge_pending(project) if not m.startswith("impact: recorded")]
    db = project / ".hotlap" / "impact.sqlite3"
    if not db.exists():
        raise PrepareError(
            "no impact data in .hotlap/: run `hotlap` (or `hotlap run`) here first, so "
            "hotlap knows which tests run which code"
        )
    impact = ImpactStore(db)
    notes = [*merged, *impact.warnings]
    try:
        if not impact.tests():
            raise PrepareError("the impact data holds no test: run `hotlap` here first")
        root = Path(impact.get_meta("rootdir", str(project)))
        scope = Scope.parse(paths, root, Path.cwd())
        results = MutateStore(store_path(project))
        notes.extend(results.warnings)
        try:
            if changed and since is None:
                since = results.block_checksums()
            durations = _durations(project)
            plan = build_plan(
                impact,
                project,
                scope,
                changed_since=since if changed else None,
                durations=durations,
                killers=results.killers,
                only=only,
            )
        finally:
            results.close()
    finally:
        impact.close()
    notes.extend(plan.notes)
    options = RunOptions(workers=workers or default_workers(), durations=durations)
    label = scope.describe() + (", changed code" if changed else "")
    run = MutationRun(plan, store_path(project), options, label, worker)
    return run, notes
