"""pytest's ``-vv`` explanation of a failed ``==`` as the detail pane colours it."""

from __future__ import annotations

from hotlap.ui.diff import LEFT, RIGHT, SUMMARY, TEXT, diff_lines, shows_diff

# What pytest 9.2 sends for ``assert {"id": 1, "amount": 9.99} == {"id": 1, "amount": 10.0}``
# and for a dataclass (a nested, indented diff).
DICT = """{'id': 1, 'amount': 9.99} == {'id': 1, 'amount': 10.0}

Common items:
{'id': 1}
Differing items:
{'amount': 9.99} != {'amount': 10.0}

Full diff: (-: missing in left side, +: extra in left side)
  {
      'id': 1,
-     'amount': 10.0,
?               ^^ ^
+     'amount': 9.99,
?               ^ ^^
  }"""
NESTED = """Order(items=[1, 2]) == Order(items=[1, 3])

Drill down into differing attribute items:
  items: [1, 2] != [1, 3]
  Full diff:
    [
        1,
  -     3,
  ?     ^
  +     2,
  ?     ^
    ]"""


def test_sides_and_changed_characters() -> None:
    """The summary first; ``-`` lines are the right side, ``+`` the left; the ``?`` hint
    lines are folded into the changed characters of the line above them."""
    lines = diff_lines(DICT)
    assert lines[0].kind == SUMMARY
    right = next(line for line in lines if line.kind == RIGHT)
    left = next(line for line in lines if line.kind == LEFT)
    assert right.text == "-     'amount': 10.0,"
    assert "".join(right.text[p] for p in right.changed) == "100"
    assert "".join(left.text[p] for p in left.changed) == "999"
    assert not any(line.text.startswith("?") for line in lines)
    assert [line.kind for line in lines].count(TEXT) == len(lines) - 3


def test_nested_diff_keeps_its_indent() -> None:
    """An attribute's diff is indented: its lines are still sides, its hints still fold."""
    lines = diff_lines(NESTED)
    sides = [line for line in lines if line.kind in (LEFT, RIGHT)]
    assert [(line.kind, line.text) for line in sides] == [
        (RIGHT, "  -     3,"),
        (LEFT, "  +     2,"),
    ]
    assert [line.text[p] for line in sides for p in line.changed] == ["3", "2"]


def test_only_an_assertion_failure_shows_its_diff() -> None:
    """A test that caught a failed assertion, then failed otherwise, shows no diff."""
    assert shows_diff("AssertionError: assert {'id': 1} == {'id': 2}", DICT)
    assert shows_diff("assert [1, 2] == [1, 3]", DICT)
    assert not shows_diff("ZeroDivisionError: division by zero", DICT)
    assert not shows_diff("AssertionError: assert 1 == 2", "")
