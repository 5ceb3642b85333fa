"""The impact subsystem's :class:`~hotlap.runner.hooks.RunHooks`: record every run, and
narrow ``--affected`` runs to the tests the changes can affect."""

from __future__ import annotations

import secrets
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING

from hotlap.impact.collect import ENV_DIR
from hotlap.model.run_context import RunContext, RunHooks

if TYPE_CHECKING:
    from hotlap.export.report import RunMeta
    from hotlap.model.run_state import RunState

# Selection (--affected) and merging (after the run) are imported where they are used: the
# app imports this module before it starts pytest.


class ImpactHooks:
    """Per-run directory for the plugin's files; merge into the store afterwards."""

    def __init__(self) -> None:
        self.tmp: Path | None = None
        self.args: list[str] = []

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
            base = ctx.project / ".hotlap" / "impact-tmp"
            _remove_stale(base)
            self.tmp = base / secrets.token_hex(6)
            self.tmp.mkdir(parents=True)
        except OSError as exc:
            self.tmp = None
            ctx.notes.append(f"impact: not recording ({exc.strerror or exc})")
            return
        ctx.env[ENV_DIR] = str(self.tmp)

    def finish(self, ctx: RunContext, state: RunState, meta: RunMeta) -> list[str]:
        if self.tmp is None:
            return []
        if state.session.dry_run:  # --setup-plan "passes" tests that ran no code
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None
            return []
        try:
            return record_run(ctx.project, self.tmp, state, self.args)
        except Exception as exc:
            return [f"impact: could not record this run ({exc})"]
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None


def _remove_stale(base: Path, age: float = 86400.0) -> None:
    """Per-run directories a killed hotlap left behind (older than a day)."""
    try:
        entries = list(base.iterdir())
    except OSError:
        return
    now = time.time()
    for entry in entries:
        try:
            if now - entry.stat().st_mtime > age:
                shutil.rmtree(entry, ignore_errors=True)
        except OSError:
            continue


def record_run(project: Path, tmp: Path, state: RunState, pytest_args: list[str]) -> list[str]:
    """Merge the plugin's files in ``tmp`` with the run's outcomes into the store."""
    from hotlap.impact.fingerprint import fingerprint
    from hotlap.impact.merge import merge_run, read_process_files
    from hotlap.impact.store import open_store

    outcomes: dict[str, str] = {}
    for nodeid, rec in state.tests.items():
        if rec.crashed:
            outcomes[nodeid] = "crashed"
        elif rec.outcome:
            outcomes[nodeid] = rec.outcome
    errors = [nodeid.split("::", 1)[0] for nodeid in state.collect_errors]
    processes = read_process_files(tmp)
    if not processes:
        return []
    root = Path(processes[0]["root"])
    store = open_store(project)
    try:
        messages = list(store.warnings)
        fp = fingerprint(root, pytest_args, project)
        messages += merge_run(store, tmp, outcomes, fp, errors, processes)
        return messages
    finally:
        store.close()


def make_hooks(ctx: RunContext) -> RunHooks:
    """The impact hooks of one run."""
    return ImpactHooks()
