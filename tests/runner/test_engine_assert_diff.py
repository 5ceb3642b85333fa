"""A failed ``==`` reaches the app with pytest's ``-vv`` explanation, whatever ``-v`` says.

The explanation is pytest's own (compared line by line with a plain ``pytest -vv`` run),
sent only by failing comparisons, and what pytest prints is left as it was.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from hotlap.export.record import read_record
from hotlap.model.run_state import RunState

SUITE = {
    "test_eq.py": """
        from dataclasses import dataclass

        import pytest


        @dataclass
        class Order:
            id: int
            amount: float
            items: list


        def test_str():
            assert "hello world\\nsecond line\\nthird" == "hello wurld\\nsecond line\\nthird!"


        def test_list():
            assert [1, 2, 3, 4] == [1, 2, 5, 4]


        def test_dict():
            refunded = {"id": 1, "amount": 9.99}
            assert refunded == {"id": 1, "amount": 10.0}


        def test_dataclass():
            assert Order(1, 9.99, [1, 2]) == Order(1, 10.0, [1, 3])


        def test_passes():
            assert [1, 2] == [1, 2]


        def test_catches_a_failed_assert():
            with pytest.raises(AssertionError):
                assert [1] == [2]


        def test_not_an_assert():
            raise ValueError("no comparison here")
    """
}
# pytest's running_on_ci(): a non-empty CI or BUILD_NUMBER turns truncation off
#: Not set at all: pytest 8 takes a variable that is set, even empty, for CI.
NOT_ON_CI: dict[str, str | None] = {"CI": None, "BUILD_NUMBER": None}
FAILING = ("test_str", "test_list", "test_dict", "test_dataclass")
_RULE = re.compile(r"^_{3,} (\S+) _{3,}$")


def _vv_explanations(output: str) -> dict[str, list[str]]:
    """Each failure's ``E`` lines in pytest's -vv output, without their ``E`` prefix."""
    found: dict[str, list[str]] = {}
    name = ""
    for line in output.splitlines():
        rule = _RULE.match(line)
        if rule:
            name = rule.group(1)
            found[name] = []
        elif name and line.startswith("E "):
            found[name].append(line)
    return found


@pytest.mark.parametrize("workers", ["0", "2"])
def test_failed_eq_carries_pytests_vv_explanation(h: Any, tmp_path: Path, workers: str) -> None:
    """At the default verbosity, each failed ``==`` (str, list, dict, dataclass) arrives
    with exactly the explanation ``pytest -vv`` prints; passing tests and non-assertion
    failures send none; hotlap's output is pytest's own ("Use -v to get more diff")."""
    project = h.write_project(tmp_path / "p", SUITE)
    record = tmp_path / "events.jsonl"
    env = NOT_ON_CI  # on CI pytest never truncates a diff, so there is no hint to compare
    hot = h.run_hotlap(
        project, "run", "--headless", "--record", str(record), "--no-history", "--no-impact",
        "--", "-n", workers, "-p", "no:cacheprovider", env=env,
    )  # fmt: skip
    assert hot.code == 1, hot.describe()
    plain = h.run_pytest(project, "-n", "0", "-p", "no:cacheprovider", env=env)
    vv = _vv_explanations(
        h.run_pytest(project, "-n", "0", "-p", "no:cacheprovider", "-vv", env=env).stdout
    )
    assert "Use -v to get more diff" in plain.stdout and "Use -v to get more diff" in hot.stdout
    events = list(read_record(record))
    diffs = {e.nodeid: e.explanation for e in events if e.kind == "assert_diff"}
    assert set(diffs) == {
        f"test_eq.py::{name}" for name in (*FAILING, "test_catches_a_failed_assert")
    }
    state = RunState()
    for event in events:
        state.apply(event)
    for name in FAILING:
        lines = diffs[f"test_eq.py::{name}"].split("\n")
        expected = vv[name]
        assert lines[0] in expected[0], name  # "E       [AssertionError: ]assert <summary>"
        assert lines[1:] == [line[10:] for line in expected[1:]], name
        assert state.tests[f"test_eq.py::{name}"].diff == diffs[f"test_eq.py::{name}"]
    assert "Full diff" in diffs["test_eq.py::test_list"]
    assert "-     'amount': 10.0," in diffs["test_eq.py::test_dict"].split("\n")
    assert "Drill down into differing attribute items:" in diffs["test_eq.py::test_dataclass"]
    assert state.tests["test_eq.py::test_passes"].diff == ""
    assert state.tests["test_eq.py::test_not_an_assert"].diff == ""
