"""One mutation run: the worker processes, the baseline, and the queue of mutants.

The run happens in a background thread (:meth:`MutationRun.start`); views take its results
with :meth:`MutationRun.drain` and fold them into a :class:`~hotlap.mutate.state.StrengthState`.

* One worker process (:mod:`hotlap.mutate.worker`), started while the run is planned,
  collects every test the mutants need,
  once; each mutant is then a fork of it: a function's with the function's code replaced,
  code that runs at import (module-level code, and functions the imports call, which the
  worker reports from its collection) with the project imported anew, mutated.
* First, the *baseline*: the tests once, without a mutant (across the slots): a test that
  fails or is skipped without a mutant cannot judge one and is left out.

At most ``workers`` forks run at once. A mutant's tests run in order (those that killed this
block's mutants before first, then the quickest) and stop at the first failure; past 3x the
tests' time (history's, or the baseline's when that was longer: the machine is slower now)
+ 1 s it counts as killed by timeout; the fork's own time around the tests (measured in the
baseline) and, for a fresh import, 3x the collection's time come on top.

Nothing is written into the project but ``.hotlap/mutate.sqlite3``: the worker writes no
bytecode, keeps pytest's cache and ``tmp_path`` directories in a temporary directory, and
gets mutants as files there.
"""

from __future__ import annotations

import contextlib
import queue
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from hotlap.mutate.events import Finished, MutantResult, Note, RunEvent, RunOptions
from hotlap.mutate.plan import Mutant, Plan
from hotlap.mutate.process import Worker, pytest_options
from hotlap.mutate.scheduler import Scheduler
from hotlap.mutate.store import MutateStore, Verdict, score_of

__all__ = [
    "Finished",
    "MutantResult",
    "MutationRun",
    "Note",
    "RunEvent",
    "RunOptions",
    "Worker",
]


class MutationRun:
    """Tests the mutants of a plan that have no stored verdict; reports every verdict."""

    def __init__(
        self,
        plan: Plan,
        store_path: Path | None,
        options: RunOptions,
        scope: str = "project",
        worker: Worker | None = None,
    ) -> None:
        self.plan = plan
        #: A worker started beforehand (importing pytest while the run was planned).
        self.worker = worker
        self.store_path = store_path
        self.store: MutateStore | None = None
        self.scope = scope
        self.counts: dict[str, int] = {}
        self.options = options
        self.events: queue.SimpleQueue[RunEvent] = queue.SimpleQueue()
        self.cancel_event = threading.Event()
        self._thread: threading.Thread | None = None
        self.started = 0.0
        self.finished = False
        self.on_event: Callable[[], None] | None = None

    # -- the view's side ----------------------------------------------------------------------
    def start(self) -> None:
        self.started = time.monotonic()
        self._thread = threading.Thread(target=self._main, name="hotlap-mutate", daemon=True)
        self._thread.start()

    def drain(self) -> list[RunEvent]:
        out: list[RunEvent] = []
        with contextlib.suppress(queue.Empty):
            while True:
                out.append(self.events.get_nowait())
        return out

    def cancel(self) -> None:
        self.cancel_event.set()

    def wait(self, timeout: float | None = None) -> bool:
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def emit(self, event: RunEvent) -> None:
        self.events.put(event)
        if self.on_event is not None:
            self.on_event()

    def verdict(self, mutant: Mutant, verdict: Verdict, store: bool = False) -> None:
        """Report ``verdict``; store it when it was found now (or ``store``: reused from the
        tests' outcomes, stored under the mutant's key for the next run)."""
        if verdict.status == "survived" and not verdict.cached:
            verdict.tests_run += len(mutant.reused)  # passed before, unchanged since
        if self.store is not None and (store or not verdict.cached) and verdict.status != "error":
            self.store.put(mutant.key, mutant.file, mutant.block, mutant.mutation.index, verdict)
            if not verdict.cached and mutant.identity:
                rows = [
                    (test, mutant.digests[test], outcome)
                    for test, outcome in verdict.outcomes.items()
                    if test in mutant.digests
                ]
                self.store.put_outcomes(mutant.identity, rows)
        self.counts[verdict.status] = self.counts.get(verdict.status, 0) + 1
        self.emit(MutantResult(mutant, verdict))

    # -- the run --------------------------------------------------------------------------------
    def _main(self) -> None:
        tmpdir = tempfile.mkdtemp(prefix="hotlap-mutate-", dir=self.options.tmp_root)
        workers: list[Worker] = []
        try:
            if self.store_path is not None:
                self.store = MutateStore(self.store_path)  # this thread's connection
                for warning in self.store.warnings:
                    self.emit(Note(warning))
            self._run(tmpdir, workers)
        except Exception as exc:  # report, never leave the view waiting
            self.emit(Note(f"mutation run failed: {exc!r}"))
        finally:
            if self.worker is not None:  # started for nothing (every verdict was stored)
                workers.append(self.worker)
                self.worker = None
            for worker in workers:
                worker.stop()
            shutil.rmtree(tmpdir, ignore_errors=True)
            wall = time.monotonic() - self.started
            if self.store is not None:
                with contextlib.suppress(Exception):
                    if not self.cancel_event.is_set():
                        self.store.set_block_checksums(self.plan.checksums)
                        self.store.record_run(
                            time.time() - wall, wall, score_of(self.counts), self.counts, self.scope
                        )
                self.store.close()
            self.finished = True
            self.emit(Finished(wall, self.cancel_event.is_set()))

    def _run(self, tmpdir: str, workers: list[Worker]) -> None:
        pending: list[Mutant] = []
        keys = [m.key for m in self.plan.mutants]
        stored = self.store.verdicts(keys) if self.store is not None else {}
        missing = [m.identity for m in self.plan.mutants if m.key not in stored and m.tests]
        outcomes = self.store.outcomes(missing) if self.store is not None and missing else {}
        for mutant in self.plan.mutants:
            found = stored.get(mutant.key)
            if found is not None:
                found.cached = True
                self.verdict(mutant, found)
            elif not mutant.tests:
                self.verdict(mutant, Verdict("no_tests"))
            else:
                reused = _reuse(mutant, outcomes.get(mutant.identity, {}))
                if reused is not None:
                    self.verdict(mutant, reused, store=True)
                else:
                    pending.append(mutant)
        if not pending or self.cancel_event.is_set():
            return
        root = self.plan.root
        base = pytest_options(tmpdir)
        needed: dict[str, None] = {}
        for mutant in pending:
            needed.update(dict.fromkeys(mutant.tests))
        files = sorted({n.split("::", 1)[0] for n in needed})
        warm, self.worker = self.worker, None
        if warm is None or not warm.alive:  # its first command names the rootdir
            if warm is not None:
                warm.stop()
            warm = Worker(root)
        workers.append(warm)
        warm.send(
            {
                "op": "collect",
                "root": str(root),
                "tmpdir": tmpdir,
                "args": [*base, "--continue-on-collection-errors"],
                "collect": files,
            }
        )
        Scheduler(self, warm, pending, list(needed)).run()


def _reuse(mutant: Mutant, known: dict[str, tuple[str, str]]) -> Verdict | None:
    """The verdict the tests' stored outcomes give, or None when some test must run; then
    ``mutant.tests`` keeps only those (a test whose dependencies are unchanged would pass
    again, or fail again). Killed while its killer's dependencies are unchanged; survived
    when every test passed as it is now."""
    now = mutant.digests
    for test in mutant.tests:
        digest, outcome = known.get(test, ("", ""))
        if digest == now.get(test) and outcome in ("failed", "timeout"):
            status = "killed" if outcome == "failed" else "timeout"
            return Verdict(status, [test], 1, cached=True)
    left = [t for t in mutant.tests if known.get(t) != (now.get(t), "passed")]
    if not left:
        return Verdict("survived", [], len(mutant.tests), cached=True)
    mutant.reused = [t for t in mutant.tests if t not in left]
    mutant.tests = left
    return None
