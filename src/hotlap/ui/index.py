"""Which rows the tests and fixtures tables show, in which order (pure, no Textual).

The tests table renders only visible rows from a list of nodeids; this module builds that
list from the state: running and finished tests, collection errors, then queued tests,
filtered by text and outcome, optionally sorted and with failures first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from hotlap.model.run_state import OUTCOMES, FixtureCost, RunState, TestRecord
from hotlap.ui.fuzzy import FuzzyFilter

#: Sort keys of the tests table, in the order ``s`` cycles through them.
TEST_SORTS = ("order", "name", "outcome", "worker", "setup", "call", "teardown", "cpu", "rss")
#: Sort keys of the fixtures table.
FIXTURE_SORTS = ("total", "per use", "count", "saving", "name")

#: Outcomes the filter understands besides pytest's: running now, not started yet.
VIEW_OUTCOMES = (*OUTCOMES, "running", "queued")
_RANK = {name: i for i, name in enumerate(VIEW_OUTCOMES)}
_FAILING = frozenset(("failed", "error"))


def outcome_of(state: RunState, nodeid: str) -> str:
    """What a row shows: pytest's outcome, ``running``, ``queued`` or a collection ``error``."""
    rec = state.tests.get(nodeid)
    if rec is None:
        return "error" if nodeid in state.collect_errors else "queued"
    if rec.outcome:
        return rec.outcome
    return "running" if rec.started is not None else "queued"


@dataclass
class TestView:
    """How the user asked to see the tests."""

    __test__ = False

    text: str = ""
    sort: str = "order"
    reverse: bool = False
    failures_first: bool = True

    def parse(self) -> tuple[list[str], set[str]]:
        """Words to match in the nodeid (fuzzily: :mod:`hotlap.ui.fuzzy`), and outcomes
        asked for with ``:failed`` style words."""
        words: list[str] = []
        outcomes: set[str] = set()
        for word in self.text.lower().split():
            if word.startswith(":") and len(word) > 1:
                name = word[1:]
                # ":fail" means failed; accept any unique prefix of an outcome.
                outcomes.update(o for o in VIEW_OUTCOMES if o.startswith(name))
                if not any(o.startswith(name) for o in VIEW_OUTCOMES):
                    outcomes.add(name)
            else:
                words.append(word)
        return words, outcomes

    def matcher(self, state: RunState) -> Callable[[str], bool]:
        """Whether the filter keeps a node id (its text fuzzily, its outcome in ``state``)."""
        words, outcomes = self.parse()
        match = FuzzyFilter(words)

        def shows(nodeid: str) -> bool:
            if match and not match(nodeid):
                return False
            return not outcomes or outcome_of(state, nodeid) in outcomes

        return shows


def _numeric(attr: str) -> Callable[[TestRecord | None], float]:
    def key(rec: TestRecord | None) -> float:
        return -getattr(rec, attr) if rec is not None else 0.0

    return key


_KEYS: dict[str, Callable[[TestRecord | None], float]] = {
    "setup": _numeric("setup"),
    "call": _numeric("call"),
    "teardown": _numeric("teardown"),
    "cpu": _numeric("cpu"),
    "rss": _numeric("rss_delta"),
}


def order_tests(state: RunState, view: TestView) -> list[str]:
    """The nodeids the tests table shows, in order."""
    errors = [n for n in state.collect_errors if n not in state.tests]
    rows = [*errors, *state.tests]
    if state.collected:
        tests = state.tests
        rows += [n for n in state.collected if n not in tests]
        # A test listed twice (pytest --keep-duplicates, or a collected test that also had
        # a collection error) is one row: the table keys its rows (cursor, cache) by nodeid.
        rows = list(dict.fromkeys(rows))
    words, outcomes = view.parse()
    if words:
        match = FuzzyFilter(words)
        rows = [n for n in rows if match(n)]
    if outcomes:
        rows = [n for n in rows if outcome_of(state, n) in outcomes]
    sort = view.sort
    if sort == "name":
        rows.sort()
    elif sort == "outcome":
        rows.sort(key=lambda n: _RANK.get(outcome_of(state, n), len(_RANK)))
    elif sort == "worker":
        rows.sort(key=lambda n: state.tests[n].worker if n in state.tests else "~")
    elif sort in _KEYS:
        get, tests = _KEYS[sort], state.tests
        rows.sort(key=lambda n: get(tests.get(n)))
    if view.reverse:
        rows.reverse()
    if view.failures_first:
        # Keep the chosen order inside both groups (a stable partition, no sort: this runs
        # on 50,000 rows while a run streams). ``failures`` lists every test that had a
        # failed or errored phase; a rerun that passed is not failing now.
        failing = {n for n in state.failures if outcome_of(state, n) in _FAILING}
        failing.update(state.collect_errors)
        if failing:
            rows = [n for n in rows if n in failing] + [n for n in rows if n not in failing]
    return rows


def fixture_saving(cost: FixtureCost) -> float:
    """Seconds a wider scope would save (0 when none)."""
    hint = cost.wider_scope_saving()
    return hint[1] if hint else 0.0


def fixture_rows(state: RunState, sort: str, reverse: bool = False) -> list[tuple[str, str, str]]:
    """Fixture keys in table order; costly first by default."""
    keys = list(state.fixtures)
    fx = state.fixtures
    if sort == "name":
        keys.sort(key=lambda k: k[0])
    elif sort == "per use":
        keys.sort(key=lambda k: -fx[k].per_use)
    elif sort == "count":
        keys.sort(key=lambda k: -fx[k].count)
    elif sort == "saving":
        keys.sort(key=lambda k: -fixture_saving(fx[k]))
    else:
        keys.sort(key=lambda k: -fx[k].total)
    if reverse:
        keys.reverse()
    return keys
