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
+ 1 s it counts as killed by timeout; a fresh import adds 3x the collection's time.

Nothing is written into the project but ``.hotlap/mutate.sqlite3``: the worker writes no
bytecode, keeps pytest's cache and ``tmp_path`` directories in a temporary directory, and
gets mutants as files there.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import queue
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hotlap.impact.blocks import FileInfo, analyse_source
from hotlap.mutate.plan import Mutant, Plan
from hotlap.mutate.store import MutateStore, Verdict, score_of

WORKER = str(Path(__file__).with_name("worker.py"))
SITE = str(Path(__file__).with_name("site"))

#: Timeout of a mutant: this many times its tests' time, plus GRACE seconds.
TIMEOUT_FACTOR = 3.0
GRACE = 1.0


@dataclass
class MutantResult:
    """A mutant and its verdict (``verdict.cached``: from an earlier run)."""

    mutant: Mutant
    verdict: Verdict


@dataclass
class Note:
    """Something the user should know about the run (a left-out test, a worker error)."""

    text: str


@dataclass
class Finished:
    """The run is over (``cancelled``: stopped before every mutant had a verdict)."""

    wall: float
    cancelled: bool = False


RunEvent = MutantResult | Note | Finished


def pytest_options(tmpdir: str) -> list[str]:
    """Options of every pytest in a mutation run: hotlap's own plugin off, pytest's cache and
    temporary directories in ``tmpdir`` (removed after the run: a fork never runs pytest's
    clean-up), one process (xdist's ``-n 0``), coverage off, quiet."""
    args = [
        "-p",
        "no:hotlap",
        "-o",
        f"cache_dir={tmpdir}/pytest-cache",
        f"--basetemp={tmpdir}/basetemp",
        "-q",
        "--tb=no",
    ]
    autoload = not os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
    if autoload and importlib.util.find_spec("xdist") is not None:
        args += ["-n", "0"]
    if autoload and importlib.util.find_spec("pytest_cov") is not None:
        args.append("--no-cov")
    return args


def worker_env() -> dict[str, str]:
    """The worker's environment: no hotlap run of our own leaking in, no bytecode written,
    the ``sitecustomize`` that gives subprocesses the mutant first on ``PYTHONPATH``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLAP_")}
    old = env.get("PYTHONPATH", "")
    env["PYTHONPATH"] = SITE + (os.pathsep + old if old else "")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    env["TMPDIR"] = env.get("TMPDIR", tempfile.gettempdir())
    return env


class Worker:
    """A worker process (started at once: it imports pytest while the run is planned) and
    the commands it has not answered yet."""

    def __init__(self, root: Path) -> None:
        self.mode = "worker"
        self.root = root
        self.log = tempfile.NamedTemporaryFile(prefix="hotlap-mutate-", suffix=".log")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, WORKER],
            cwd=root,
            env=worker_env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            start_new_session=True,
        )
        assert self.proc.stdout is not None
        self.fd = self.proc.stdout.fileno()
        os.set_blocking(self.fd, False)
        self.buf = b""
        self.ready: dict[str, Any] | None = None
        self.inflight: dict[str, Any] = {}
        self.dead = False

    @property
    def alive(self) -> bool:
        return not self.dead and self.proc.poll() is None

    def send(self, message: dict[str, Any]) -> None:
        stdin = self.proc.stdin
        if stdin is None or self.dead:
            return
        try:
            stdin.write(json.dumps(message).encode() + b"\n")
            stdin.flush()
        except OSError:
            self.dead = True

    def read(self) -> list[dict[str, Any]]:
        try:
            data = os.read(self.fd, 1 << 16)
        except BlockingIOError:
            return []
        if not data:
            self.dead = True
            return []
        self.buf += data
        out = []
        while b"\n" in self.buf:
            line, self.buf = self.buf.split(b"\n", 1)
            with contextlib.suppress(ValueError):
                out.append(json.loads(line))
        return out

    def log_tail(self) -> str:
        with contextlib.suppress(OSError):
            self.log.flush()
            text = Path(self.log.name).read_text(encoding="utf-8", errors="replace")
            return "\n".join(text.strip().splitlines()[-5:])
        return ""

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        with contextlib.suppress(OSError):
            if self.proc.stdout is not None:
                self.proc.stdout.close()
        self.log.close()


@dataclass
class _Job:
    mutant: Mutant | None  # None: a baseline chunk
    tests: list[str]
    timeout: float | None
    fresh: bool
    id: str = ""
    expected: float = 0.0


@dataclass
class RunOptions:
    """How to run: parallel forks, known test durations, where to put temporary files."""

    workers: int = 2
    durations: dict[str, float] = field(default_factory=dict)
    tmp_root: str | None = None


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
        self._cancel = threading.Event()
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
        self._cancel.set()

    def wait(self, timeout: float | None = None) -> bool:
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def _emit(self, event: RunEvent) -> None:
        self.events.put(event)
        if self.on_event is not None:
            self.on_event()

    def _verdict(self, mutant: Mutant, verdict: Verdict) -> None:
        if self.store is not None and not verdict.cached and verdict.status != "error":
            self.store.put(mutant.key, mutant.file, mutant.block, mutant.mutation.index, verdict)
        self.counts[verdict.status] = self.counts.get(verdict.status, 0) + 1
        self._emit(MutantResult(mutant, verdict))

    # -- the run --------------------------------------------------------------------------------
    def _main(self) -> None:
        tmpdir = tempfile.mkdtemp(prefix="hotlap-mutate-", dir=self.options.tmp_root)
        workers: list[Worker] = []
        try:
            if self.store_path is not None:
                self.store = MutateStore(self.store_path)  # this thread's connection
                for warning in self.store.warnings:
                    self._emit(Note(warning))
            self._run(tmpdir, workers)
        except Exception as exc:  # report, never leave the view waiting
            self._emit(Note(f"mutation run failed: {exc!r}"))
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
                    if not self._cancel.is_set():
                        self.store.set_block_checksums(self.plan.checksums)
                        self.store.record_run(
                            time.time() - wall, wall, score_of(self.counts), self.counts, self.scope
                        )
                self.store.close()
            self.finished = True
            self._emit(Finished(wall, self._cancel.is_set()))

    def _run(self, tmpdir: str, workers: list[Worker]) -> None:
        pending: list[Mutant] = []
        keys = [m.key for m in self.plan.mutants]
        stored = self.store.verdicts(keys) if self.store is not None else {}
        for mutant in self.plan.mutants:
            found = stored.get(mutant.key)
            if found is not None:
                found.cached = True
                self._verdict(mutant, found)
            elif not mutant.tests:
                self._verdict(mutant, Verdict("no_tests"))
            else:
                pending.append(mutant)
        if not pending or self._cancel.is_set():
            return
        root = self.plan.root
        base = pytest_options(tmpdir)
        needed: dict[str, None] = {}
        for mutant in pending:
            needed.update(dict.fromkeys(mutant.tests))
        files = sorted({n.split("::", 1)[0] for n in needed})
        warm, self.worker = self.worker, None
        if warm is None or not warm.alive or warm.root != root:
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


class Scheduler:
    """Feeds the workers: baseline first, then mutants, at most ``workers`` at a time."""

    def __init__(
        self, run: MutationRun, warm: Worker, pending: list[Mutant], tests: list[str]
    ) -> None:
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
            self.run_._emit(
                Note(f"the {worker.mode} worker stopped" + (f": {tail}" if tail else ""))
            )
        for job_id in list(worker.inflight):
            job = self.jobs.pop(job_id, None)
            worker.inflight.pop(job_id, None)
            if job is not None and job.mutant is not None:
                self.run_._verdict(job.mutant, Verdict("error"))

    def _dispatch(self) -> None:
        worker = self.warm
        busy = len(worker.inflight)
        while self.queue and busy < self.slots:
            job = self.queue.pop(0)
            if worker.dead:
                if job.mutant is not None:
                    self.run_._verdict(job.mutant, Verdict("error"))
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
        cancel = self.run_._cancel
        while self.warm.ready is None and not self.warm.dead:
            if cancel.is_set():
                return
            for worker, message in self._pump(0.1):
                if message.get("ev") == "ready":
                    worker.ready = message
        if self.warm.ready is None:
            for mutant in self.pending:
                self.run_._verdict(mutant, Verdict("error"))
            return
        ready = self.warm.ready
        self.startup = float(ready.get("seconds", 0.5))
        collected = set(ready.get("collected", []))
        for error in ready.get("errors", []):
            self.run_._emit(Note(f"collection error in {error}: its tests are left out"))
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
                self.run_._verdict(mutant, Verdict("no_tests"))
                continue
            seconds = sum(self.durations.get(t, 0.01) for t in mutant.tests)
            timeout = TIMEOUT_FACTOR * seconds + GRACE
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
                        self.run_._verdict(job.mutant, Verdict("error"))
                self.queue.clear()
            self._dispatch()

    def _done(self, worker: Worker, message: dict[str, Any]) -> None:
        job = self.jobs.pop(str(message.get("id")), None)
        worker.inflight.pop(str(message.get("id")), None)
        if job is None:
            return
        if job.mutant is None:
            self.baseline_left -= 1
            bad = []
            for nodeid, (outcome, seconds) in message.get("outcomes", {}).items():
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
                self.run_._emit(Note(f"left out: tests that do not pass without a mutant: {shown}"))
            if message.get("status") in ("timeout", "error"):
                self.run_._emit(
                    Note(f"baseline run ended: {message.get('status')} {message.get('message')}")
                )
            return
        status = str(message.get("status"))
        if status == "fresh":
            job.fresh = True
            job.mutant.fresh = True
            job.timeout = (job.timeout or 0) + TIMEOUT_FACTOR * self.startup + GRACE
            self.queue.insert(0, job)
            return
        if status not in ("killed", "survived", "timeout", "error"):
            status = "error"
        verdict = Verdict(
            status,
            list(message.get("killed_by", [])) if status in ("killed", "timeout") else [],
            int(message.get("tests_run", 0)),
            float(message.get("seconds", 0.0)),
        )
        self.run_._verdict(job.mutant, verdict)
