"""Fast tests: the bulk of any real suite."""

from __future__ import annotations

import logging
import sys

import pytest

log = logging.getLogger("demo.basics")


@pytest.mark.parametrize("n", range(20))
def test_addition(n: int) -> None:
    assert n + n == 2 * n


@pytest.mark.parametrize(
    "word",
    ["lap", "pit", "grid", "apex", "chicane", "kerb", "slipstream", "podium", "flag", "tyre"],
)
def test_string_ops(word: str) -> None:
    assert word.upper().lower() == word
    assert word[::-1][::-1] == word


def parse(text: str) -> list[str]:
    """Split a comma-separated line into stripped fields."""
    return [part.strip() for part in text.split(",")]


class TestParser:
    """A test class, to show class-level node ids."""

    def test_empty(self) -> None:
        assert parse("") == [""]

    def test_single(self) -> None:
        assert parse("a") == ["a"]

    def test_many(self) -> None:
        assert parse("a,b,c") == ["a", "b", "c"]

    def test_strip(self) -> None:
        assert parse(" a , b ") == ["a", "b"]

    def test_ints(self) -> None:
        assert [int(p) for p in parse("1, 2,3")] == [1, 2, 3]

    def test_roundtrip(self) -> None:
        assert ",".join(parse("x,y")) == "x,y"


def test_prints_progress() -> None:
    print("lap 1 of 3 ... ok")
    print("lap 2 of 3 ... ok")
    log.info("telemetry received: 3 laps")
    assert True


@pytest.mark.skip(reason="demo: skipped on purpose")
def test_not_on_this_track() -> None:
    raise AssertionError("never runs")


@pytest.mark.skipif(sys.version_info >= (3,), reason="demo: needs Python 2")
def test_needs_python2() -> None:
    raise AssertionError("never runs")
