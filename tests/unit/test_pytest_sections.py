"""Which part of pytest's output the headless log repeats at the end."""

from __future__ import annotations

from hotlap.runner.headless import pytest_sections

HEADER = [
    "============================= test session starts ==============================",
    "platform linux -- Python 3.11.7, pytest-9.2.0, pluggy-1.6.0",
    "created: 2/2 workers",
]
LIVE = [
    "test_a.py::test_one ",
    "-------------------------------- live log call ---------------------------------",
    "INFO     root:test_a.py:3 hello",
    "PASSED                                                                   [ 50%]",
]
FAILURES = [
    "=================================== FAILURES ===================================",
    "___________________________________ test_two ___________________________________",
    ">       assert 1 == 2",
    "E       assert 1 == 2",
]
COVERAGE = [
    "---------- coverage: platform linux, python 3.11.7-final-0 -----------",
    "TOTAL                 6      1    83%",
]
SUMMARY = "========================= 1 failed, 1 passed in 0.26s =========================="


def test_sections_after_the_tests_without_the_summary_line() -> None:
    output = "\n".join([*HEADER, *LIVE, "test_a.py F", *FAILURES, *COVERAGE, SUMMARY])
    assert pytest_sections(output) == [*FAILURES, *COVERAGE]


def test_quiet_run_with_only_a_coverage_report() -> None:
    output = "\n".join(["..", *COVERAGE, SUMMARY, ""])
    assert pytest_sections(output) == COVERAGE


def test_nothing_after_the_tests() -> None:
    assert pytest_sections("\n".join([*HEADER, "..F", SUMMARY])) == []
    assert pytest_sections("\n".join([*HEADER, *LIVE, SUMMARY])) == []
    assert pytest_sections("") == []


def test_output_without_a_summary_line_keeps_its_sections_to_the_end() -> None:
    # -p no:terminal-like plugins or a summary the tail lost: what is there is shown.
    assert pytest_sections("\n".join(["F", *FAILURES])) == FAILURES


def test_a_report_whose_start_was_cut_shows_its_end_with_a_note() -> None:
    """Over the lines hotlap keeps, the first rule is gone: the end of the report still comes
    (it came out empty, every traceback lost), after a line that says it was cut."""
    tail = "\n".join([*FAILURES[2:], *COVERAGE[1:], SUMMARY])  # from mid-traceback
    sections = pytest_sections(tail, cut=6000)
    assert sections[0].startswith("hotlap: the start of pytest's report was cut (6000")
    assert sections[1:] == [*FAILURES[2:], *COVERAGE[1:]]
    assert pytest_sections(tail) == []  # nothing was cut: no rule means no report
    # A cut tail whose first rule survived reads as usual.
    assert pytest_sections("\n".join(["x", *FAILURES, SUMMARY]), cut=10) == FAILURES
