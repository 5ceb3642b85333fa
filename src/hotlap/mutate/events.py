"""What a mutation run reports to its views, and how it is asked to run."""

from __future__ import annotations

from dataclasses import dataclass, field

from hotlap.mutate.plan import Mutant
from hotlap.mutate.store import Verdict


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


@dataclass
class RunOptions:
    """How to run: parallel forks, known test durations, where to put temporary files."""

    workers: int = 2
    durations: dict[str, float] = field(default_factory=dict)
    tmp_root: str | None = None
