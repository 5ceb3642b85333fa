"""What to run, and why: the answer of impact selection that watch mode and the CLI act on."""

from __future__ import annotations


class Selection:
    """What to run for a batch of changes, and why.

    A plain class, as are the other records ``hotlap affected`` builds: importing
    dataclasses (and inspect with it) took 5-9 ms of each command's ~75 ms CPU."""

    __slots__ = ("full_run", "notes", "reason", "tests")

    def __init__(
        self,
        full_run: bool,
        reason: str,
        tests: dict[str, list[str]] | None = None,
        notes: list[str] | None = None,
    ) -> None:
        self.full_run = full_run
        self.reason = reason
        #: nodeid -> reasons ("src/pkg/mod.py::func changed", "failed last run", …)
        self.tests: dict[str, list[str]] = {} if tests is None else tests
        #: With ``why``: which rules fired for how many tests, and how many recorded tests
        #: fall back to depending on whole files.
        self.notes: list[str] = [] if notes is None else notes

    def __repr__(self) -> str:
        return f"Selection({self.full_run!r}, {self.reason!r}, {len(self.tests)} tests)"
