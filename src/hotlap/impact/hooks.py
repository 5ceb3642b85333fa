"""The impact subsystem's :class:`~hotlap.runner.hooks.RunHooks`: record every run, and
narrow ``--affected`` runs to the tests the changes can affect."""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from hotlap.channel import ENV_IMPACT_DIR as ENV_DIR
from hotlap.channel import ENV_IMPACT_EXCLUDE as ENV_EXCLUDE
from hotlap.channel import ENV_PYCACHE
from hotlap.impact import pending
from hotlap.model.run_context import RunContext, RunHooks
from hotlap.paths import make_dirs

if TYPE_CHECKING:
    from hotlap.export.report import RunMeta
    from hotlap.model.run_state import RunState

# Selection (--affected) and merging (after the run) are imported where they are used: the
# app imports this module before it starts pytest.


#: CPU seconds of a merge that a headless run still starts as pytest's session ends: it
#: overlaps pytest's shutdown (0.3-0.7 s on 2 cores) and is mostly done when hotlap exits.
QUICK_MERGE = 0.25
#: CPU seconds per byte of a run's files that its merge is expected to cost while none has
#: been measured (a first run's merge analyses every source file its tests ran): jinja2's
#: 1.2 MB took 1.0 s, click's 2.7 MB 1.6 s, 400 trivial tests' 0.03 s.
FIRST_MERGE_PER_BYTE = 0.7e-6


class ImpactHooks:
    """Per-run directory for the plugin's files; merge into the store afterwards."""

    def __init__(self, merge_now: bool = False) -> None:
        self.tmp: Path | None = None
        self.args: list[str] = []
        #: Merge as the run ends (watch mode: the next cycle's selection needs this run, and
        #: a save made meanwhile must be compared with what ran), not in the background.
        self.merge_now = merge_now
        self._project: Path | None = None  # earlier runs to merge once pytest has started

    def prepare(self, ctx: RunContext) -> None:
        try:
            self._prepare(ctx)
        except Exception as exc:  # a broken cache must never stop a run
            ctx.notes.append(f"impact: disabled for this run ({exc})")

    def _prepare(self, ctx: RunContext) -> None:
        self.args = list(ctx.pytest_args)
        if ctx.env.get(ENV_DIR):  # someone else (watch) already set it up
            return
        if getattr(ctx.options, "affected", False):
            from hotlap.impact.engine import apply_selection, compute_selection, root_of

            selection, warnings = compute_selection(ctx.project, ctx.pytest_args)
            ctx.notes.extend(warnings)
            if selection.full_run:
                ctx.notes.append(f"affected: full run ({selection.reason})")
            elif not selection.tests:
                ctx.skip_reason = "no affected tests"
                ctx.notes.append(f"affected: {selection.reason}")
            else:
                root = root_of(ctx.project)
                args, chosen = apply_selection(ctx.pytest_args, selection, root, Path.cwd())
                if chosen:
                    ctx.pytest_args = args
                    ctx.notes.append(f"affected: {chosen} selected ({selection.reason})")
                else:
                    ctx.skip_reason = "no affected tests"
        if getattr(ctx.options, "no_impact", False):
            return
        try:
            base = pending.base_dir(ctx.project)
            if self.merge_now:
                pending.remove_stale(ctx.project)  # else once pytest is started (started)
            make_dirs(base)
            self.tmp = base / os.urandom(6).hex()  # secrets would import hashlib, random
            self.tmp.mkdir()
        except OSError as exc:
            self.tmp = None
            ctx.notes.append(f"impact: not recording ({exc.strerror or exc})")
            return
        # Runs a killed hotlap (or one that exited first) left to merge: while pytest runs,
        # from when it has been started (see started), not while hotlap prepares to start it.
        if self.merge_now:
            pending.merge_in_background(ctx.project)
        else:
            self._project = ctx.project
        ctx.env[ENV_DIR] = str(self.tmp)
        ctx.env[ENV_PYCACHE] = str(ctx.project / ".hotlap" / "pycache")
        exclude = getattr(ctx.options, "impact_exclude", None) or []
        if exclude:
            ctx.env[ENV_EXCLUDE] = os.pathsep.join(exclude)

    def finish(self, ctx: RunContext, state: RunState, meta: RunMeta) -> list[str]:
        """The run's directory is made ready and merged on a background thread: the user
        does not wait for it (see :mod:`hotlap.impact.pending`)."""
        tmp, self.tmp = self.tmp, None
        if tmp is None:
            return []
        if state.session.dry_run:  # --setup-plan "passes" tests that ran no code
            shutil.rmtree(tmp, ignore_errors=True)
            return []
        outcomes, errors = _outcomes(state)
        try:
            pending.mark_ready(
                tmp, outcomes, errors, self.args, ran_paths(ctx.pytest_args, Path.cwd())
            )
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            return [f"impact: could not record this run ({exc.strerror or exc})"]
        if self.merge_now:
            failed = [m for m in pending.merge_pending(ctx.project) if "could not" in m]
            if failed:
                return failed
            ctx.impact_merged = True
        elif not ctx.exits_after_run or _merge_cost(ctx.project, tmp) <= QUICK_MERGE:
            pending.merge_in_background(ctx.project)
        # else: a headless hotlap exits within 0.1 s of pytest, which would cut this merge
        # short (its work rolled back, and the wait added to the run): the next start does it.
        # A run that ran no test (a usage error, an empty selection, a collection error) may
        # still have recorded collection errors, but has nothing to say after pytest's error.
        return [f"impact: recorded dependencies of {len(state.tests)} tests"] if state.tests else []

    def started(self, ctx: RunContext) -> None:
        """pytest has been started: merge what earlier runs left, on a background thread.

        Merging (0.4 s of CPU for click's 2,459 tests) on a thread of the app while the app
        prepared pytest's start held the GIL half of the time and delayed the start by as
        much; from here it overlaps pytest's own start-up, which keeps one core busy.
        """
        project, self._project = self._project, None
        if project is not None:
            pending.remove_stale(project)  # what a killed hotlap left a day ago or more
            pending.merge_in_background(project)

    def settle(self, timeout: float) -> None:
        """Give the background merge ``timeout`` seconds to end before hotlap exits."""
        pending.settle(timeout)


def _merge_cost(project: Path, tmp: Path) -> float:
    """CPU seconds the merge of the run in ``tmp`` is expected to take: the last merge's,
    or before any was measured, :data:`FIRST_MERGE_PER_BYTE` for each byte of its files."""
    cost = pending.last_merge_cost(project)
    if cost:
        return cost
    size = 0
    with contextlib.suppress(OSError), os.scandir(tmp) as entries:
        for entry in entries:
            with contextlib.suppress(OSError):
                size += entry.stat().st_size
    return size * FIRST_MERGE_PER_BYTE


def _outcomes(state: RunState) -> tuple[dict[str, str], list[str]]:
    """Each test's outcome as the merge records it, and the files that failed to collect."""
    outcomes: dict[str, str] = {}
    for nodeid, rec in state.tests.items():
        if rec.crashed:
            outcomes[nodeid] = "crashed"
        elif rec.outcome:
            outcomes[nodeid] = rec.outcome
    errors = [nodeid.split("::", 1)[0] for nodeid in state.collect_errors]
    return outcomes, errors


def record_run(project: Path, tmp: Path, state: RunState, pytest_args: list[str]) -> list[str]:
    """Merge the plugin's files in ``tmp`` with the run's outcomes into the store now."""
    outcomes, errors = _outcomes(state)
    pending.mark_ready(tmp, outcomes, errors, pytest_args)
    return pending.merge_pending(project)


def ran_paths(args: list[str] | None, cwd: Path) -> list[str] | None:
    """The absolute test paths (with any ``::`` part) a run was given ([]: the whole
    suite), or None when its options may have left tests out (-k, -m, --deselect, --lf…):
    the merge forgets recorded tests those paths held that the run no longer collected."""
    import os

    from hotlap.impact.fingerprint import split_args

    if args is None:
        return None
    options, paths = split_args(args, cwd)
    narrowing = ("-k", "-m", "--deselect", "--lf", "--last-failed", "--sw", "--stepwise", "-x")
    if any(o.split("=", 1)[0] in narrowing or o.startswith(("-k", "-m")) for o in options):
        return None
    found = []
    for path in paths:
        file, sep, rest = path.partition("::")
        found.append(os.path.abspath(cwd / file) + sep + rest)
    return found


def make_hooks(ctx: RunContext, merge_now: bool = False) -> RunHooks:
    """The impact hooks of one run (``merge_now``: see :class:`ImpactHooks`)."""
    return ImpactHooks(merge_now)
