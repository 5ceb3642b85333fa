"""Which rows the tests and fixtures tables show: order, filters, sorts, empty states."""

from __future__ import annotations

from ui_helpers import events_of, state_of

from hotlap.ui.index import (
    TestView,
    fixture_rows,
    fixture_saving,
    order_tests,
    outcome_of,
)


def test_every_collected_test_has_a_row_queued_ones_last() -> None:
    """Mid-run, the table lists started tests in start order, then the queued ones."""
    events = events_of("ui_demo_n2.jsonl")
    state = state_of(events[: len(events) // 2])
    rows = order_tests(state, TestView(failures_first=False))
    assert len(rows) == len(state.collected)
    started = list(state.tests)
    assert rows[: len(started)] == started
    assert all(outcome_of(state, n) == "queued" for n in rows[len(started) :])


def test_text_and_outcome_filters_combine() -> None:
    """Words match the node id; ``:failed``-style words filter by outcome (prefixes work)."""
    state = state_of(events_of("ui_demo_n2.jsonl"))
    by_word = order_tests(state, TestView(text="inventory"))
    assert by_word and all("inventory" in n for n in by_word)
    failed = order_tests(state, TestView(text=":fail"))
    assert set(failed) == {n for n, r in state.tests.items() if r.outcome == "failed"}
    both = order_tests(state, TestView(text="orders :failed"))
    assert both and set(both) < set(failed)
    assert order_tests(state, TestView(text="no-such-test")) == []


def test_sorts_order_by_the_column_and_reverse() -> None:
    """Sorting by call time puts the slowest call first; reverse flips it."""
    state = state_of(events_of("ui_demo_n2.jsonl"))
    rows = order_tests(state, TestView(sort="call", failures_first=False))
    calls = [state.tests[n].call for n in rows]
    assert calls == sorted(calls, reverse=True)
    rev = order_tests(state, TestView(sort="call", reverse=True, failures_first=False))
    assert [state.tests[n].call for n in rev] == sorted(calls)
    names = order_tests(state, TestView(sort="name", failures_first=False))
    assert names == sorted(names)


def test_failures_first_keeps_the_chosen_order_inside_groups() -> None:
    """Failures and errors come first; the rest keep the sort the user chose."""
    state = state_of(events_of("ui_demo_n2.jsonl"))
    rows = order_tests(state, TestView(sort="name", failures_first=True))
    bad = [n for n in rows if outcome_of(state, n) in ("failed", "error")]
    assert bad and rows[: len(bad)] == sorted(bad)
    assert rows[len(bad) :] == sorted(rows[len(bad) :])


def test_collection_errors_are_rows_never_an_empty_table() -> None:
    """A module that fails to import shows up as an error row."""
    state = state_of(events_of("ui_crash_n2.jsonl"))
    rows = order_tests(state, TestView())
    assert "tests/test_broken_import.py" in rows
    assert outcome_of(state, "tests/test_broken_import.py") == "error"
    assert outcome_of(state, rows[0]) in ("failed", "error")


def test_fixture_rows_costly_first_with_a_scope_hint() -> None:
    """Fixtures sort by total cost; a costly function fixture has a module-scope saving."""
    state = state_of(events_of("ui_run_n2.jsonl"))
    keys = fixture_rows(state, "total")
    totals = [state.fixtures[k].total for k in keys]
    assert totals == sorted(totals, reverse=True)
    database = next(k for k in keys if k[0] == "database")
    assert fixture_saving(state.fixtures[database]) > 0.1
    assert [k[0] for k in fixture_rows(state, "name")] == sorted(k[0] for k in keys)
