"""What to run, and why: the answer of impact selection that watch mode and the CLI act on."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Selection:
    """What to run for a batch of changes, and why."""

    full_run: bool
    reason: str
    #: nodeid -> reasons ("src/pkg/mod.py::func changed", "failed last run", …)
    tests: dict[str, list[str]] = field(default_factory=dict)
    #: With ``why``: which rules fired for how many tests, and how many recorded tests fall
    #: back to depending on whole files.
    notes: list[str] = field(default_factory=list)
