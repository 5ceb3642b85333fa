"""The header's incremental ETA: always what ``eta_seconds`` computes over every test."""

from __future__ import annotations

import random

import pytest
from ui_helpers import events_of, state_of

from hotlap.model.run_state import RunState
from hotlap.ui.eta import LiveEta
from hotlap.ui.format import eta_seconds
from hotlap.ui.live_index import touched_rows


@pytest.mark.parametrize(
    "record", ["ui_demo_n2.jsonl", "ui_crash_n2.jsonl", "ui_run_n0.jsonl", "engine_n2.jsonl"]
)
def test_live_eta_matches_eta_seconds_while_the_run_streams(record: str) -> None:
    """Fed in random chunks (a crash included), with history for most tests and for one
    that is not collected, the live ETA equals ``eta_seconds`` after every chunk."""
    rng = random.Random(record)
    events = events_of(record)
    names = [*state_of(events).collected, "tests/gone.py::test_old"]
    compared = 0
    for _ in range(3):
        expected = {n: rng.uniform(0.1, 3.0) for n in names if rng.random() < 0.8}
        state, live = RunState(), LiveEta()
        i = 0
        while i < len(events):
            chunk = events[i : i + rng.randint(1, 10)]
            i += len(chunk)
            for event in chunk:
                state.apply(event)
            live.note(touched_rows(chunk))
            now = chunk[-1].t + rng.uniform(0.0, 2.0)
            want = eta_seconds(state, expected, 2, now)
            got = live.eta(state, expected, 2, now)
            if want is None:
                assert got is None
            else:
                assert got == pytest.approx(want, abs=1e-9)
                compared += 1
    assert compared > 0


def test_live_eta_starts_over_for_another_state_or_history() -> None:
    """A new run (another state) or other expected times are not mixed with the old ones."""
    events = events_of("ui_demo_n2.jsonl")
    half = state_of(events[: len(events) // 2])
    live = LiveEta()
    expected = dict.fromkeys(half.collected, 1.0)
    now = half.last_t
    assert live.eta(half, expected, 2, now) == pytest.approx(eta_seconds(half, expected, 2, now))
    other = dict.fromkeys(half.collected, 2.0)
    assert live.eta(half, other, 2, now) == pytest.approx(eta_seconds(half, other, 2, now))
    fresh = RunState()
    assert live.eta(fresh, other, 2, now) == pytest.approx(eta_seconds(fresh, other, 2, now))
    assert live.eta(half, {}, 2, now) is None
