"""What a mutation run has found so far: the reducer the headless log and the Strength pane
render (no Textual, no I/O), and the JSON report."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hotlap.mutate.events import Finished, MutantResult, Note, RunEvent
from hotlap.mutate.store import score_of

#: Statuses in the order the summaries list them.
STATUSES = ("killed", "timeout", "survived", "no_tests", "error")
LABELS = {
    "killed": "killed",
    "timeout": "timeout",
    "survived": "survived",
    "no_tests": "no tests",
    "error": "error",
}
REPORT_VERSION = 1


@dataclass
class BlockSummary:
    """The verdicts of one function (or of a file's module-level code)."""

    file: str
    block: str
    line: int
    counts: dict[str, int] = field(default_factory=dict)
    survivors: list[MutantResult] = field(default_factory=list)

    def describe(self) -> str:
        return ", ".join(f"{self.counts[s]} {LABELS[s]}" for s in STATUSES if self.counts.get(s))


class StrengthState:
    """Every verdict of a run, as it comes."""

    def __init__(self, total: int = 0) -> None:
        self.total = total
        self.results: dict[str, MutantResult] = {}
        self.counts: dict[str, int] = {}
        self.cached = 0
        self.notes: list[str] = []
        self.finished: Finished | None = None
        #: Bumped on every change (views repaint when it moved).
        self.version = 0

    def apply(self, event: RunEvent) -> None:
        self.version += 1
        if isinstance(event, MutantResult):
            key = event.mutant.id
            old = self.results.get(key)
            if old is not None:
                self.counts[old.verdict.status] -= 1
            self.results[key] = event
            status = event.verdict.status
            self.counts[status] = self.counts.get(status, 0) + 1
            self.cached += int(event.verdict.cached)
        elif isinstance(event, Note):
            self.notes.append(event.text)
        elif isinstance(event, Finished):
            self.finished = event

    @property
    def done(self) -> int:
        return len(self.results)

    @property
    def score(self) -> float | None:
        return score_of(self.counts)

    def survivors(self) -> list[MutantResult]:
        """Surviving mutants by file and line."""
        found = [r for r in self.results.values() if r.verdict.status == "survived"]
        found.sort(key=lambda r: (r.mutant.file, r.mutant.line, r.mutant.mutation.index))
        return found

    def blocks(self) -> list[BlockSummary]:
        """Per function (and module-level code), by file and line."""
        found: dict[tuple[str, str], BlockSummary] = {}
        for result in self.results.values():
            m = result.mutant
            summary = found.get((m.file, m.block))
            if summary is None:
                summary = found[(m.file, m.block)] = BlockSummary(m.file, m.block, m.line)
            summary.line = min(summary.line, m.line)
            status = result.verdict.status
            summary.counts[status] = summary.counts.get(status, 0) + 1
            if status == "survived":
                summary.survivors.append(result)
        out = sorted(found.values(), key=lambda b: (b.file, b.block != "<module>", b.line))
        for summary in out:
            summary.survivors.sort(key=lambda r: (r.mutant.line, r.mutant.mutation.index))
        return out

    def progress(self) -> str:
        """``[40/63] 33 killed · 5 survived`` (what is known so far)."""
        parts = [f"{self.counts[s]} {LABELS[s]}" for s in STATUSES if self.counts.get(s)]
        return f"[{self.done}/{self.total}] " + (" · ".join(parts) or "starting")

    def summary_line(self) -> str:
        score = self.score
        text = "score " + (f"{score:.1f}%" if score is not None else "n/a")
        counts = ", ".join(f"{self.counts.get(s, 0)} {LABELS[s]}" for s in STATUSES[:4])
        if self.counts.get("error"):
            counts += f", {self.counts['error']} error"
        text += f" · {counts}"
        if self.finished is not None:
            text += f" · {self.finished.wall:.1f} s"
        if self.cached:
            text += f" ({self.cached} from earlier runs)"
        return text

    def report(self) -> dict[str, Any]:
        """The ``--json`` report (version 1)."""
        mutants = []
        for result in sorted(
            self.results.values(),
            key=lambda r: (r.mutant.file, r.mutant.line, r.mutant.block, r.mutant.mutation.index),
        ):
            m, v = result.mutant, result.verdict
            mutants.append(
                {
                    "id": m.id,
                    "file": m.file,
                    "function": m.block,
                    "line": m.line,
                    "diff": m.mutation.diff,
                    "status": v.status,
                    "killed_by": list(v.killed_by),
                    "tests_run": v.tests_run,
                }
            )
        score = self.score
        return {
            "version": REPORT_VERSION,
            "score": score if score is not None else 0.0,
            "mutants": mutants,
        }


def survivor_line(result: MutantResult, limit: int = 3) -> str:
    """``line 12: a < b  ->  a <= b  (3 tests: t1, t2, t3)``."""
    m = result.mutant
    tests = [*m.reused, *m.tests]  # reused: passed before, their dependencies unchanged
    shown = ", ".join(tests[:limit]) + (f", … ({len(tests)} tests)" if len(tests) > limit else "")
    return f"line {m.line}: {m.mutation.short}  [ran {shown or 'no test'}]"


def render_text(state: StrengthState) -> list[str]:
    """The end-of-run listing: per file, per function, then each survivor's diff."""
    lines: list[str] = []
    current = ""
    for block in state.blocks():
        if block.file != current:
            current = block.file
            lines.append(current)
        lines.append(f"  {block.block:<32} {block.describe()}")
        for result in block.survivors:
            lines.append(f"      survived  {survivor_line(result)}")
    return lines
