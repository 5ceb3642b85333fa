"""Feeding the worker: the baseline first, then the mutants, at most ``workers`` forks at a
time, longest first; each verdict goes back to the run."""

from __future__ import annotations

import os
import selectors
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from hotlap.impact.blocks import FileInfo, analyse_source
from hotlap.mutate.events import Note, RunEvent, RunOptions
from hotlap.mutate.plan import Mutant, Plan
from hotlap.mutate.process import Worker
from hotlap.mutate.store import Verdict

#: Timeout of a mutant: this many times its tests' time, plus GRACE seconds.
TIMEOUT_FACTOR = 3.0
GRACE = 1.0


class RunSink(Protocol):
    """What the scheduler reports to (a :class:`~hotlap.mutate.session.MutationRun`)."""

    plan: Plan
    options: RunOptions
    cancel_event: threading.Event

    def emit(self, event: RunEvent) -> None: ...

    def verdict(self, mutant: Mutant, verdict: Verdict) -> None: ...


@dataclass
class _Job:
    mutant: Mutant | None  # None: a baseline chunk
    tests: list[str]
    timeout: float | None
    fresh: bool
    id: str = ""
    expected: float = 0.0
    #: Timed out once already (a second run, with twice the time, confirms it).
    retried: bool = False


class Scheduler:
    """Feeds the workers: baseline first, then mutants, at most ``workers`` at a time."""

    def __init__(self, run: RunSink, warm: Worker, pending: list[Mutant], tests: list[str]) -> None:
        self.run_ = run
        self.warm = warm
        self.pending = pending
        self.tests = tests
        self.slots = max(1, run.options.workers)
        self.durations = dict(run.options.durations)
        self.sel = selectors.DefaultSelector()
        self.sel.register(warm.fd, selectors.EVENT_READ, warm)
        self.jobs: dict[str, _Job] = {}
        self.queue: list[_Job] = []
        self.counter = 0
        self.usable: set[str] = set()
        self.baseline_left = 0
        self.startup = 0.5
        #: Seconds a fork spends around each of its tests (the fork, the mutant's compile,
        #: pytest's hooks and reports), as the baseline's forks took it under the load now.
        self.overhead = 0.0

    # -- plumbing --------------------------------------------------------------------------
    def _pump(self, timeout: float) -> list[tuple[Worker, dict[str, Any]]]:
        out = []
        for key, _mask in self.sel.select(timeout):
            worker: Worker = key.data
            for message in worker.read():
                out.append((worker, message))
            if worker.dead:
                self.sel.unregister(worker.fd)
                self._worker_died(worker)
        return out

    def _worker_died(self, worker: Worker) -> None:
        tail = worker.log_tail()
        if worker.inflight or worker.ready is None:
            self.run_.emit(
                Note(f"the {worker.mode} worker stopped" + (f": {tail}" if tail else ""))
            )
        for job_id in list(worker.inflight):
            job = self.jobs.pop(job_id, None)
            worker.inflight.pop(job_id, None)
            if job is not None and job.mutant is not None:
                self.run_.verdict(job.mutant, Verdict("error"))

    def _dispatch(self) -> None:
        worker = self.warm
        busy = len(worker.inflight)
        while self.queue and busy < self.slots:
            job = self.queue.pop(0)
            if worker.dead:
                if job.mutant is not None:
                    self.run_.verdict(job.mutant, Verdict("error"))
                continue
            self.counter += 1
            job.id = str(self.counter)
            self.jobs[job.id] = job
            worker.inflight[job.id] = job
            spec = None
            if job.mutant is not None:
                spec = {
                    "file": str(self.run_.plan.root / job.mutant.file),
                    "block": job.mutant.block,
                    "index": job.mutant.mutation.index,
                }
            worker.send(
                {
                    "op": "run",
                    "id": job.id,
                    "mutant": spec,
                    "tests": job.tests,
                    "timeout": job.timeout,
                    "stop_first": job.mutant is not None,
                    "fresh": job.fresh,
                }
            )
            busy += 1

    def _cancel_all(self) -> None:
        for job_id in list(self.warm.inflight):
            self.warm.send({"op": "cancel", "id": job_id})

    # -- phases -------------------------------------------------------------------------------
    def run(self) -> None:
        cancel = self.run_.cancel_event
        while self.warm.ready is None and not self.warm.dead:
            if cancel.is_set():
                return
            for worker, message in self._pump(0.1):
                if message.get("ev") == "ready":
                    worker.ready = message
        if self.warm.ready is None:
            for mutant in self.pending:
                self.run_.verdict(mutant, Verdict("error"))
            return
        ready = self.warm.ready
        self.startup = float(ready.get("seconds", 0.5))
        collected = set(ready.get("collected", []))
        for error in ready.get("errors", []):
            self.run_.emit(Note(f"collection error in {error}: its tests are left out"))
        self._route_import_time(ready.get("import_time", []))
        self._baseline([t for t in self.tests if t in collected])
        self._loop(cancel)
        if self.usable or not self.tests:
            self._mutants()
            self._loop(cancel)
        if cancel.is_set():
            self._cancel_all()

    def _route_import_time(self, codes: list[list[Any]]) -> None:
        """Mutants of functions that ran while the tests were imported and collected are
        tested fresh: in the collected session, their effect (a registration) is made."""
        root = os.path.realpath(self.run_.plan.root)
        infos: dict[str, FileInfo | None] = {}
        at_import: set[tuple[str, str]] = set()
        for path, line in codes:
            rel = os.path.relpath(path, root).replace(os.sep, "/")
            if rel.startswith("../"):
                continue
            if rel not in infos:
                try:
                    infos[rel] = analyse_source(Path(root, rel).read_bytes())
                except OSError:
                    infos[rel] = None
            info = infos[rel]
            if info is not None:
                at_import.add((rel, info.block_at(int(line))))
        for mutant in self.pending:
            if (mutant.file, mutant.block) in at_import:
                mutant.fresh = True

    def _baseline(self, tests: list[str]) -> None:
        chunks: list[list[str]] = [[] for _ in range(self.slots)]
        loads = [0.0] * self.slots
        for nodeid in sorted(tests, key=lambda n: -self.durations.get(n, 0.0)):
            i = loads.index(min(loads))
            chunks[i].append(nodeid)
            loads[i] += self.durations.get(nodeid, 0.01)
        for chunk, load in zip(chunks, loads, strict=True):
            if chunk:
                timeout = max(60.0, TIMEOUT_FACTOR * load + 30)
                self.queue.append(_Job(None, chunk, timeout, False))
                self.baseline_left += 1
        self._dispatch()

    def _mutants(self) -> None:
        jobs = []
        for mutant in self.pending:
            mutant.tests = [t for t in mutant.tests if t in self.usable]
            if not mutant.tests:
                # Only the tests whose outcome was not reused could fail without a mutant.
                self.run_.verdict(mutant, Verdict("survived" if mutant.reused else "no_tests"))
                continue
            seconds = sum(self.durations.get(t, 0.01) for t in mutant.tests)
            # The issue's 3x the tests' time + 1 s, from when the tests can start: the fork's
            # own time is added (on a loaded machine it alone passed 1 s: false timeouts).
            timeout = TIMEOUT_FACTOR * seconds + GRACE
            timeout += 2 * self.overhead * (len(mutant.tests) + 1)
            if mutant.fresh:
                timeout += TIMEOUT_FACTOR * self.startup + GRACE
            expected = seconds + (self.startup if mutant.fresh else 0.0)
            jobs.append(_Job(mutant, mutant.tests, timeout, mutant.fresh, expected=expected))
        # Longest first: the last slot to finish is not left with a slow fresh mutant.
        jobs.sort(key=lambda j: -j.expected)
        self.queue.extend(jobs)
        self._dispatch()

    def _loop(self, cancel: threading.Event) -> None:
        while self.jobs or self.queue:
            if cancel.is_set():
                return
            for worker, message in self._pump(0.05):
                if message.get("ev") == "ready":
                    worker.ready = message
                elif message.get("ev") == "done":
                    self._done(worker, message)
            if self.warm.dead and not self.jobs:
                for job in self.queue:
                    if job.mutant is not None:
                        self.run_.verdict(job.mutant, Verdict("error"))
                self.queue.clear()
            self._dispatch()

    def _done(self, worker: Worker, message: dict[str, Any]) -> None:
        job = self.jobs.pop(str(message.get("id")), None)
        worker.inflight.pop(str(message.get("id")), None)
        if job is None:
            return
        if job.mutant is None:
            self.baseline_left -= 1
            outcomes = message.get("outcomes", {})
            tests_time = sum(float(s) for _o, s in outcomes.values())
            around = float(message.get("seconds", 0.0)) - tests_time
            self.overhead = max(self.overhead, around / max(1, len(outcomes)))
            bad = []
            for nodeid, (outcome, seconds) in outcomes.items():
                if outcome == "passed":
                    self.usable.add(nodeid)
                    # History's time, unless the machine is slower now (the baseline ran
                    # under the same load as the mutants will): no timeout from load alone.
                    known = self.durations.get(nodeid, 0.0)
                    self.durations[nodeid] = max(known, float(seconds))
                else:
                    bad.append(f"{nodeid} ({outcome})")
            if bad:
                shown = ", ".join(bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
                self.run_.emit(Note(f"left out: tests that do not pass without a mutant: {shown}"))
            if message.get("status") in ("timeout", "error"):
                self.run_.emit(
                    Note(f"baseline run ended: {message.get('status')} {message.get('message')}")
                )
            return
        status = str(message.get("status"))
        if status == "timeout" and not job.retried and job.timeout:
            # Confirm with twice the time first: under load spikes a subprocess test alone
            # took past 3x its baseline time + 1 s (ledger at load 10: 2 mutants of
            # cli.main "timed out", one of them equivalent, a survivor at load 4).
            job.retried = True
            job.timeout *= 2
            self.queue.insert(0, job)
            return
        if status == "fresh":
            job.fresh = True
            job.mutant.fresh = True
            job.timeout = (job.timeout or 0) + TIMEOUT_FACTOR * self.startup + GRACE
            self.queue.insert(0, job)
            return
        if status not in ("killed", "survived", "timeout", "error"):
            status = "error"
        killed_by = list(message.get("killed_by", [])) if status in ("killed", "timeout") else []
        outcomes = {
            nodeid: str(entry[0])
            for nodeid, entry in message.get("outcomes", {}).items()
            if entry and entry[0] in ("passed", "failed")
        }
        if killed_by and status == "timeout":
            outcomes[killed_by[0]] = "timeout"
        elif killed_by and status == "killed":
            outcomes.setdefault(killed_by[0], "failed")  # a crash reports no outcome
        verdict = Verdict(
            status,
            killed_by,
            int(message.get("tests_run", 0)),
            float(message.get("seconds", 0.0)),
            outcomes=outcomes if status != "error" else {},
        )
        self.run_.verdict(job.mutant, verdict)
