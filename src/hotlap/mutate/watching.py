"""``hotlap watch --mutate``: after a cycle's tests pass, mutate the code the saves changed,
in the idle time before the next save (which cancels it). Textual-free: the headless watch
loop and the dashboard drive it the same way."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from hotlap.mutate.session import MutantResult, MutationRun, Note, RunEvent, Worker
from hotlap.mutate.state import StrengthState, survivor_line

Say = Callable[[str], None]


class MutationWatch:
    """At most one mutation run at a time, over the files changed since the last one."""

    def __init__(self, project: Path, *, workers: int | None = None, say: Say | None = None):
        self.project = project
        self.workers = workers
        self.say = say
        self.state = StrengthState()
        self.run: MutationRun | None = None
        self.paths: dict[str, None] = {}
        self.running: list[str] = []
        self.status = "mutation: after the next save whose tests pass"
        from hotlap.mutate.prepare import current_checksums

        #: The code as it was when watching started, then as last mutated: a block whose
        #: checksum differs from it is "just changed".
        self.known = current_checksums(project)
        #: A worker that has imported pytest, waiting for the next run (started idle).
        self.spare: Worker | None = None

    def changed(self, paths: list[str]) -> None:
        """Saves came (a new cycle starts): whatever runs is cancelled; the paths wait for
        a cycle whose tests pass."""
        self.cancel()
        self.paths.update(dict.fromkeys(p for p in paths if p.endswith(".py")))

    def cycle_done(self, exit_code: int | None, paths: list[str] | None = None) -> None:
        """A cycle ended: when its tests passed, mutate what changed."""
        if paths:
            self.paths.update(dict.fromkeys(p for p in paths if p.endswith(".py")))
        if exit_code != 0 or not self.paths or self.busy:
            return
        from hotlap.mutate.prepare import PrepareError, prepare_run, start_worker

        paths_now, self.paths = list(self.paths), {}
        worker, self.spare = self.spare, None
        try:
            run, notes = prepare_run(
                self.project,
                paths_now,
                changed=True,
                workers=self.workers,
                since=self.known,
                worker=worker or start_worker(self.project),
            )
        except PrepareError as exc:
            self.status = f"mutation: {exc}"
            return
        for note in notes:
            self._say(f"mutate: {note}")
        if not run.plan.mutants:
            self.status = "mutation: nothing changed to mutate"
            return
        self.state = StrengthState(len(run.plan.mutants))
        self.run = run
        self.running = paths_now
        self.status = f"mutating {len(run.plan.mutants)} mutants of the changed code"
        self._say(f"mutate: {len(run.plan.mutants)} mutants of {', '.join(paths_now)}")
        run.start()

    @property
    def busy(self) -> bool:
        return self.run is not None and self.state.finished is None

    def poll(self) -> list[RunEvent]:
        """Fold what the run found into ``state`` (and say survivors); the events."""
        if self.run is None:
            return []
        events = self.run.drain()
        for event in events:
            self.state.apply(event)
            if isinstance(event, MutantResult) and event.verdict.status == "survived":
                m = event.mutant
                self._say(f"mutate: SURVIVED {m.file}::{m.block} {survivor_line(event)}")
            elif isinstance(event, Note):
                self._say(f"mutate: {event.text}")
        finished = self.state.finished
        if finished is not None and events:
            if not finished.cancelled and self.run is not None:
                self.known.update(self.run.plan.checksums)
            if self.spare is None:
                from hotlap.mutate.prepare import start_worker

                self.spare = start_worker(self.project)  # pytest imported before the next save
            how = "cancelled by a save" if finished.cancelled else "done"
            self.status = f"mutation {how}: {self.state.summary_line()}"
            self._say(f"mutate: {how}: {self.state.summary_line()}")
        return events

    def cancel(self) -> None:
        """Stop the run in progress and wait for its workers to be gone (~0.1 s)."""
        if self.busy and self.run is not None:
            self.run.cancel()
            self.run.wait(10)
            self.paths.update(dict.fromkeys(self.running))  # not done: mutate them next time
            self.poll()
            self.status = "mutation cancelled by a save"

    def close(self) -> None:
        if self.run is not None:
            self.run.cancel()
            self.run.wait(10)
        if self.spare is not None:
            self.spare.stop()
            self.spare = None

    def _say(self, text: str) -> None:
        if self.say is not None:
            self.say(text)
