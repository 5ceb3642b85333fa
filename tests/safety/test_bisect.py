"""The polluter search's bisection and the worker order it bisects, without pytest runs."""

from __future__ import annotations

import itertools
import math

from hotlap.protocol import TestDone, TestReport, TestStart
from hotlap.safety.bisect import Bisection
from hotlap.safety.order import ran_before, worker_orders
from hotlap.safety.polluters import Verdict, find_polluters


def _names(n: int) -> list[str]:
    return [f"t{i}" for i in range(n)]


def test_one_polluter_anywhere_within_the_issues_bound() -> None:
    """One polluter at any place among n = 1..200 candidates is found, in at most
    2*log2(n)+2 runs counting the victim's run alone before the bisection."""
    for n in range(1, 201):
        for p in range(n):
            search = Bisection(lambda s, p=p: f"t{p}" in s, limit=1000)
            assert search.search(_names(n)) == [f"t{p}"]
            assert 1 + search.runs <= 2 * math.log2(n) + 2, (n, p, search.runs)


def test_two_polluters_needed_together() -> None:
    """A victim that fails only after both of two tests: both are named, nothing else, and
    every run the search makes keeps the worker's order."""
    for n in range(2, 24):
        for p, q in itertools.combinations(range(n), 2):
            search = Bisection(lambda s, p=p, q=q: f"t{p}" in s and f"t{q}" in s, limit=1000)
            assert search.search(_names(n)) == [f"t{p}", f"t{q}"]
            for subset, _failed in search.log:
                assert subset == sorted(subset, key=lambda name: int(name[1:]))


def _pair_runs(n: int, p: int, q: int) -> int:
    search = Bisection(lambda s: f"t{p}" in s and f"t{q}" in s, limit=1000)
    assert search.search(_names(n)) == [f"t{p}", f"t{q}"], (n, p, q)
    return search.runs


def test_two_polluters_needed_together_within_the_issues_bound() -> None:
    """Two polluters needed together, anywhere among n = 2..200 candidates, are found in at
    most 2*log2(n)+2 runs of the prefix (the victim's run alone not counted): every pair for
    n <= 32, and beyond, for every 5th n (and 39, 44, 100, 128, 200), every last polluter with
    the first at 0, 1, its middle and right before it (every pair up to 200 was checked once,
    outside the suite: 1.3 million searches)."""
    for n in sorted({*range(2, 201, 5), *range(2, 33), 39, 44, 100, 128, 200}):
        bound = 2 * math.log2(n) + 2
        for q in range(1, n):
            for p in range(q) if n <= 32 else {0, 1 % q, q // 2, q - 1}:
                assert _pair_runs(n, p, q) <= bound, (n, p, q)


def test_more_polluters_together_and_either_of_two() -> None:
    """Three or four polluters needed together are all named; when either of two polluters
    is enough, one of them is named (one rerun of the victim after it fails)."""
    for n in range(4, 30):
        for ps in itertools.combinations(range(n), 3):
            if sum(ps) % 5:
                continue  # a fifth of the triples
            search = Bisection(lambda s, ps=ps: all(f"t{p}" in s for p in ps), limit=1000)
            assert search.search(_names(n)) == [f"t{p}" for p in ps]
        four = [0, n // 3, n // 2, n - 1]
        search = Bisection(lambda s, ps=four: all(f"t{p}" in s for p in ps), limit=1000)
        assert search.search(_names(n)) == [f"t{p}" for p in four]
        for p, q in itertools.combinations(range(n), 2):
            search = Bisection(lambda s, p=p, q=q: f"t{p}" in s or f"t{q}" in s, limit=1000)
            found = search.search(_names(n))
            assert found in ([f"t{p}"], [f"t{q}"])


def test_no_polluter_named_when_the_prefix_no_longer_fails() -> None:
    """A failure the reruns cannot reproduce (a flaky victim) names no polluter."""
    for n in range(1, 40):
        assert Bisection(lambda s: False).search(_names(n)) is None


def test_worker_order_from_the_events() -> None:
    """Each worker's order is the order of its tests' first events, whatever kind."""

    def done(worker: str, nodeid: str) -> TestDone:
        return TestDone(worker, 1, 0.0, nodeid=nodeid, setup=0, call=0, teardown=0, start=0,
                        stop=0, cpu=0, rss=0, maxrss=0)  # fmt: skip

    def report(worker: str, nodeid: str, when: str) -> TestReport:
        return TestReport(worker, 1, 0.0, nodeid=nodeid, when=when, outcome="failed",
                          category="", counts=False, duration=0, start=0, stop=0, cpu=0,
                          rss=0, maxrss=0)  # fmt: skip

    events = [
        done("gw0", "a"),
        TestStart("gw1", 2, 0.0, nodeid="x", path="", line=1, domain=""),
        report("gw0", "b", "setup"),
        report("gw0", "b", "call"),
        done("gw1", "y"),
        report("gw1", "x", "call"),
        done("gw0", "c"),
    ]
    orders = worker_orders(events)
    assert orders == {"gw0": ["a", "b", "c"], "gw1": ["x", "y"]}
    assert ran_before(orders, "gw0", "c") == ["a", "b"]
    assert ran_before(orders, "gw1", "c") == []


def _search_all(n: int, fails: object) -> Verdict:
    names = _names(n)

    def rerun(subset: list[str], _victim: str) -> bool:
        return bool(fails(set(subset)))  # type: ignore[operator]

    (verdict,) = find_polluters(["v"], lambda _v: ("main", names), rerun)
    return verdict


def test_every_polluter_when_each_alone_suffices_within_the_bound_per_polluter() -> None:
    """Two or three polluters, each alone enough to make the victim fail, anywhere among
    n = 2..70 tests (three: up to 40): each is named as its own set, nothing else, in at
    most 2*log2(n)+2 runs per polluter (the victim's run alone and the last check that the
    rest passes included)."""
    for n in range(2, 71):
        bound = 2 * math.log2(n) + 2
        for k in (2, 3):
            for ps in itertools.combinations(range(n), k):
                if k == 3 and (n > 40 or sum(ps) % 7):
                    continue  # a seventh of the triples, up to 40
                polluters = {f"t{p}" for p in ps}
                v = _search_all(n, lambda s, polluters=polluters: bool(s & polluters))
                assert v.sets == [[f"t{p}"] for p in ps], (n, ps)
                assert v.polluters == [f"t{p}" for p in ps]
                assert v.runs <= k * bound, (n, ps, v.runs)


def test_needed_together_and_either_mixed() -> None:
    """A pair needed together or a third test alone: the pair is one set, the third another;
    a single polluter is still one set within 2*log2(n)+2 runs (its check included)."""
    for n in range(3, 30):
        for a, b, c in itertools.combinations(range(n), 3):
            pair, single = {f"t{a}", f"t{b}"}, f"t{c}"
            v = _search_all(n, lambda s, pair=pair, single=single: pair <= s or single in s)
            assert sorted(v.sets) == sorted([[f"t{a}", f"t{b}"], [single]]), (n, a, b, c)
        for p in range(n):
            v = _search_all(n, lambda s, p=p: f"t{p}" in s)
            assert v.sets == [[f"t{p}"]] and v.runs <= 2 * math.log2(n) + 2, (n, p, v.runs)
