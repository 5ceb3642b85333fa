"""Shrinking a victim's prefix to the tests that make it fail.

``fails(subset)`` runs ``subset`` (in the worker's order) and then the victim, and says
whether the victim failed. The whole prefix was seen failing in the main run; the search
keeps only sets it saw fail itself, so the polluters it names were observed making the
victim fail, and a prefix that no longer makes it fail is "not reproduced".

One polluter: each step tests the first part (about :data:`SPLIT` of the candidates), and
only when that passes the rest, so a step costs 1 run for 0.62 of the candidates or 2 for
0.38: about 1.44·log2(n) runs for n candidates, under the issue's 2·log2(n)+2 (with the run
alone before it). Where each size is cut is chosen once (:class:`_Cuts`) so that two
polluters split by a cut also stay within that bound.

Several polluters needed together (neither part fails on its own, at whatever step): they
make the victim fail only when all of them ran before it, so

1. the *last* one, ``q``, is in the rest: the first test of the rest whose prefix (with the
   first part) fails, a binary search;
2. the *first* one is in the first part (the rest alone did not fail): the first test of the
   longest tail of the tests before ``q`` that still fails with ``q``, a binary search;
3. the two are run once more together (unless that set was already seen failing); when they
   pass, more are needed and (2) goes on between the first and ``q``.

Two polluters needed together cost at most 2·log2(n)+2 runs of the prefix (the victim's run
alone comes on top): checked for every pair of places for n = 2..200 (12 runs at n = 39,
where the ddmin-like search before took 19); one polluter with the run alone, the same bound.
Three or more needed together are found too, at more cost; of two polluters either of which
is enough, one is named by one search (:func:`hotlap.safety.polluters.find_polluters` searches
again without it).
"""

from __future__ import annotations

import math
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
    #: Whether the result needed tests together (then it was seen failing as a set).
    together: bool = False
    log: list[tuple[list[str], bool]] = field(default_factory=list)
    _index: dict[str, int] = field(default_factory=dict)
    _failed: set[frozenset[str]] = field(default_factory=set)

    def _fails(self, subset: list[str]) -> bool:
        if self.runs >= self.limit:
            raise TooManyRuns
        self.runs += 1
        subset = sorted(set(subset), key=self._index.__getitem__)
        failed = self.fails(subset)
        self.log.append((subset, failed))
        if failed:
            self._failed.add(frozenset(subset))
        return failed

    def _seen_or_fails(self, subset: list[str]) -> bool:
        return frozenset(subset) in self._failed or self._fails(subset)

    def search(self, candidates: Sequence[str], *, seen: bool = False) -> list[str] | None:
        """The smallest failing subset found, or None when the prefix no longer fails;
        ``seen``: the caller saw ``candidates`` fail just before (one run fewer when one is
        left)."""
        cands = list(dict.fromkeys(candidates))
        self._index = {nodeid: i for i, nodeid in enumerate(cands)}
        self._failed = {frozenset(cands)} if seen else set()
        if not cands:
            return None
        if len(cands) == 1:
            return cands if seen or self._fails(cands) else None
        found = self._shrink(cands, seen=False)
        return _ordered(found, cands) if found is not None else None

    def _shrink(self, cands: list[str], *, seen: bool) -> list[str] | None:
        """A minimal part of ``cands`` that fails; ``seen``: whether ``cands`` was seen
        failing in this search (else only in the main run)."""
        if len(cands) == 1:
            return cands if seen or self._fails(cands) else None
        first, rest = cands[: _cut(len(cands))], cands[_cut(len(cands)) :]
        if self._fails(first):
            return self._shrink(first, seen=True)
        if self._fails(rest):
            return self._shrink(rest, seen=True)
        # Neither part fails alone: both are needed, or the failure is not reproduced (then
        # no set is seen failing and _together says so).
        self.together = True
        return self._together(first, rest)

    def _together(self, first: list[str], rest: list[str]) -> list[str] | None:
        """The polluters of ``first + rest`` (seen failing), neither part failing alone."""
        # 1. The last polluter: the first q in rest with first + rest[:q+1] failing.
        a, b = 0, len(rest) - 1
        while a < b:
            mid = (a + b) // 2
            if self._fails([*first, *rest[: mid + 1]]):
                b = mid
            else:
                a = mid + 1
        last = rest[a]
        # 2. The first one: the largest t with pool[t:] + [last] failing, pool the tests
        # before last (t = 0 is known to: it is first + rest[:a+1]). first + rest[:a] did
        # not fail, so the others are in it; rest did not, so the first one is in first.
        pool = [*first, *rest[:a]]
        fixed, lo, hi = [last], 0, len(first) - 1
        while True:
            t = self._first_needed(pool, lo, hi, fixed)
            fixed = [pool[t], *fixed]
            if self._seen_or_fails(fixed):
                return fixed
            # 3. More are needed, after that one.
            lo, hi = t + 1, len(pool) - 1
            if lo > hi or not self._seen_or_fails([*fixed, *pool[lo:]]):
                return None

    def _first_needed(self, pool: list[str], lo: int, hi: int, fixed: list[str]) -> int:
        """The largest ``t`` in ``[lo, hi]`` for which ``pool[t:] + fixed`` fails (``t == lo``
        is known to)."""
        a, b = lo, hi
        while a < b:
            mid = (a + b + 1) // 2
            if self._fails([*pool[mid:], *fixed]):
                a = mid
            else:
                b = mid - 1
        return a


def _ceil_log2(x: int) -> int:
    return (x - 1).bit_length()


class _Cuts:
    """Where a search splits ``m`` candidates, chosen once per size by the worst cases it
    leads to (runs of the prefix, the victim's run alone not counted): ``pair[m]`` for two
    polluters needed together (split by the cut: 2 runs, the two binary searches, and the
    check of the pair), ``single[m]`` for one (1 run when it is in the first part, 2 in the
    rest). Among cuts between 0.3 and 0.75 of them (about 26 tried, and those that make a
    part a power of 2: all sizes up to 10k take 0.3 s), one whose pair case is within
    2*log2(m)+2 if there is one (for every m up to 10k by this count), then the fewest runs
    for one polluter, then the nearest to :data:`SPLIT`."""

    def __init__(self) -> None:
        self.cut = [0, 0]
        self.single = [0, 0]  # the candidates were seen failing: one left costs nothing
        self.pair = [0, 0]

    def __call__(self, m: int) -> int:
        while len(self.cut) <= m:
            self._add(len(self.cut))
        return self.cut[m]

    def _add(self, m: int) -> None:
        golden = max(1, min(m - 1, round(m * SPLIT)))
        bound = 2 * math.log2(m) + 2
        best: tuple[tuple[bool, int, int, int], int, int, int] | None = None
        lo, hi = max(1, (m * 3) // 10), max(golden, (m * 3) // 4)
        powers = [1 << k for k in range(m.bit_length())]
        tried = {golden, *range(lo, hi + 1, max(1, (hi - lo) // 24))}
        tried |= {c for p in powers for c in (p, m - p) if lo <= c <= hi}
        for c in sorted(tried):
            single = max(1 + self.single[c], 2 + self.single[m - c])
            pair = 3 + _ceil_log2(c) + _ceil_log2(m - c)
            if c >= 2:
                pair = max(pair, 1 + self.pair[c])
            if m - c >= 2:
                pair = max(pair, 2 + self.pair[m - c])
            key = (pair > bound, single, abs(golden - c), c)
            if best is None or key < best[0]:
                best = (key, c, single, pair)
        assert best is not None
        self.cut.append(best[1])
        self.single.append(best[2])
        self.pair.append(best[3])


_cut = _Cuts()


def _ordered(subset: list[str], order: list[str]) -> list[str]:
    chosen = set(subset)
    return [n for n in order if n in chosen]
