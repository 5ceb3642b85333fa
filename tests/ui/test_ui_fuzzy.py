"""fzf-style matching of node ids: which rows a filter keeps and which letters it lights up."""

from __future__ import annotations

from ui_helpers import events_of, state_of

from hotlap.ui.fuzzy import FuzzyFilter, match_positions
from hotlap.ui.index import TestView, order_tests

REFUND = "test_orders.py::test_refund_rounding"


def test_letters_in_order_match_anywhere() -> None:
    """``ordrefnd`` finds test_orders.py::test_refund (the issue's example); letters out of
    order, or one too many, do not; case is ignored; every word must match."""
    assert FuzzyFilter(["ordrefnd"])("test_orders.py::test_refund")
    assert FuzzyFilter(["ORDREFND"])("test_orders.py::test_refund")
    assert not FuzzyFilter(["refundord"])("test_orders.py::test_refund")
    assert not FuzzyFilter(["ordrefndd"])("test_orders.py::test_refund")
    assert FuzzyFilter(["ord", "refnd"])("test_orders.py::test_refund")
    assert not FuzzyFilter(["ord", "zz"])("test_orders.py::test_refund")
    # Characters that mean something to a regular expression are plain letters here.
    assert FuzzyFilter(["[1]"])("test_x.py::test_p[1]")
    assert not FuzzyFilter(["[1]"])("test_x.py::test_p1")
    assert FuzzyFilter(["a.b-c^]\\"])("xa.yb-c^]\\")


def test_highlight_is_the_compact_match() -> None:
    """The letters lit are those of the shortest match that ends first (fzf's first
    algorithm): ``ord`` in orders, ``ref`` and ``nd`` in refund, not scattered letters."""
    text = "test_orders.py::test_refund"
    positions = match_positions("ordrefnd", text)
    assert positions is not None
    assert "".join(text[p] for p in positions) == "ordrefnd"
    assert text[positions[0] : positions[2] + 1] == "ord"
    assert text[positions[3] : positions[5] + 1] == "ref"
    assert positions[3] == text.index("refund")
    assert match_positions("zz", text) is None
    assert FuzzyFilter(["ord", "ref"]).positions(text) == sorted({*range(5, 8), *range(21, 24)})


def test_the_table_filter_is_fuzzy() -> None:
    """The tests table keeps the rows whose node id matches fuzzily, outcome words still
    apply, and the view says whether it shows a node id the same way."""
    state = state_of(events_of("ui_demo_n2.jsonl"))
    rows = order_tests(state, TestView(text="ordrefnd"))
    assert REFUND in rows
    assert all(FuzzyFilter(["ordrefnd"])(n) for n in rows)
    assert order_tests(state, TestView(text="ordrefnd :passed")) == []
    assert TestView(text="ordrefnd :failed").matcher(state)(REFUND)
    assert not TestView(text="ordrefnd :passed").matcher(state)(REFUND)
