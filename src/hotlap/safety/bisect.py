"""Shrinking a victim's prefix to the tests that make it fail.

``fails(subset)`` runs ``subset`` (in the worker's order) and then the victim, and says
whether the victim failed. The search assumes what it is given was seen failing (the prefix,
in the main run) and keeps only subsets it saw fail itself, so a polluter it names was
observed making the victim fail; a prefix that no longer makes it fail is "not reproduced".

One polluter: each step tests the first (larger, :data:`SPLIT` of the candidates) part, and
only when that passes the rest, so a step costs 1 run for 0.62 of the candidates or 2 for
0.38: about 1.44·log2(n) runs for n candidates, under the issue's 2·log2(n)+2 (with the run
alone before it). Several polluters needed together (neither part fails on its own): each
part is shrunk with the other kept (Zeller's ddmin idea, as in detect-test-pollution's
``--fuzz``), which costs more; the result is then run once more to check it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

#: The share of the candidates tested first: the golden ratio's, which balances "1 run for
#: this part" against "2 runs for the rest".
SPLIT = 0.618


class TooManyRuns(Exception):
    """The search hit its run limit."""


@dataclass
class Bisection:
    """The minimal set of ``candidates`` (kept in their order) that makes the victim fail."""

    fails: Callable[[list[str]], bool]
    limit: int = 64
    runs: int = 0
    #: Whether the result needed tests together (then it was checked by one more run).
    together: bool = False
    log: list[tuple[list[str], bool]] = field(default_factory=list)
    _index: dict[str, int] = field(default_factory=dict)

    def _fails(self, subset: list[str]) -> bool:
        if self.runs >= self.limit:
            raise TooManyRuns
        self.runs += 1
        subset = sorted(subset, key=self._index.__getitem__)
        failed = self.fails(subset)
        self.log.append((subset, failed))
        return failed

    def search(self, candidates: Sequence[str]) -> list[str] | None:
        """The smallest failing subset found, or None when the prefix no longer fails."""
        cands = list(dict.fromkeys(candidates))
        self._index = {nodeid: i for i, nodeid in enumerate(cands)}
        if not cands:
            return None
        if len(cands) == 1:
            return cands if self._fails(cands) else None
        found = self._shrink(cands, [], seen=False)
        if found is None:
            return None
        if self.together and not self._fails(_ordered(found, cands)):
            return None
        return _ordered(found, cands)

    def _shrink(self, cands: list[str], fixed: list[str], *, seen: bool) -> list[str] | None:
        """A minimal part of ``cands`` that fails with ``fixed``; ``seen``: whether
        ``fixed + cands`` was seen failing in this search (else only in the main run)."""
        if len(cands) == 1 and (seen or fixed):
            return cands
        if len(cands) == 1:
            return cands if self._fails(cands) else None
        cut = max(1, min(len(cands) - 1, round(len(cands) * SPLIT)))
        first, rest = cands[:cut], cands[cut:]
        if self._fails(_merge(fixed, first)):
            return self._shrink(first, fixed, seen=True)
        if self._fails(_merge(fixed, rest)):
            return self._shrink(rest, fixed, seen=True)
        if not seen and not fixed and not self._fails(cands):
            return None  # neither part fails, nor the whole any more: not reproduced
        # Both parts are needed: shrink each with the other kept.
        self.together = True
        mine = self._shrink(first, _merge(fixed, rest), seen=True)
        if mine is None:
            return None
        theirs = self._shrink(rest, _merge(fixed, mine), seen=True)
        if theirs is None:
            return None
        return [*mine, *theirs]


def _merge(a: list[str], b: list[str]) -> list[str]:
    return [*a, *b]


def _ordered(subset: list[str], order: list[str]) -> list[str]:
    chosen = set(subset)
    return [n for n in order if n in chosen]
