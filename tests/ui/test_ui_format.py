"""The dashboard's pure helpers: formats, sparklines, the ETA, the editor command."""

from __future__ import annotations

from ui_helpers import events_of, state_of

from hotlap.ui.format import (
    editor_command,
    ellipsize_left,
    eta_seconds,
    fmt_bytes,
    fmt_delta_bytes,
    fmt_seconds,
    growth_sparkline,
    hbar,
    sparkline,
)


def test_seconds_stay_short_at_every_scale() -> None:
    """Durations read well from milliseconds to hours and never exceed five characters."""
    assert fmt_seconds(0.004) == "0.00s"
    assert fmt_seconds(1.234) == "1.23s"
    assert fmt_seconds(12.34) == "12.3s"
    assert fmt_seconds(125) == "2m05s"
    assert fmt_seconds(3725) == "1h02m"
    assert fmt_seconds(2530) == "42m"
    assert fmt_seconds(-1) == "0.00s"
    assert all(len(fmt_seconds(s)) <= 5 for s in (0.1, 9.99, 59.9, 599, 3599, 35999))


def test_bytes_use_binary_units_and_signs() -> None:
    """Memory is shown in KB/MB/GB (1024-based) and RSS deltas carry their sign."""
    assert fmt_bytes(512) == "512 B"
    assert fmt_bytes(45 * 1024 * 1024) == "45 MB"
    assert fmt_bytes(3.1 * 1024**3) == "3.1 GB"
    assert fmt_delta_bytes(2 * 1024 * 1024) == "+2 MB"
    assert fmt_delta_bytes(-2 * 1024 * 1024) == "-2 MB"
    assert fmt_delta_bytes(0) == ""


def test_sparkline_scales_to_top_and_keeps_the_last_values() -> None:
    """A sparkline shows the most recent ``width`` values, scaled to the given top."""
    assert sparkline([0, 50, 100], 3, 100) == "▁▅█"
    assert sparkline(range(100), 4) == sparkline([96, 97, 98, 99], 4, 99)
    assert sparkline([], 5) == ""
    assert sparkline([0, 0], 2) == "▁▁"


def test_growth_sparkline_keeps_flat_memory_low() -> None:
    """A constant RSS draws a low line, not a wall of full blocks; growth still shows."""
    assert growth_sparkline([100.0] * 5, 5) == "▁▁▁▁▁"
    assert growth_sparkline([100.0, 150.0, 200.0], 3) == "▁▅█"


def test_hbar_fills_in_eighths() -> None:
    """A bar's filled and empty parts always add up to its width."""
    for fraction in (0.0, 0.33, 0.5, 0.99, 1.0, 1.5):
        filled, empty = hbar(fraction, 10)
        assert len(filled) + len(empty) == 10
    assert hbar(0.5, 10)[0] == "█" * 5
    assert hbar(1.0, 4) == ("████", "")


def test_ellipsize_left_keeps_the_test_name() -> None:
    """Long node ids lose their directory, not their test name."""
    assert ellipsize_left("tests/unit/test_api.py::test_update", 20) == "…api.py::test_update"
    assert ellipsize_left("short", 20) == "short"
    assert len(ellipsize_left("x" * 50, 10)) == 10


def test_editor_command_prefers_visual_and_splits_arguments() -> None:
    """$VISUAL wins over $EDITOR, arguments are split like a shell, +LINE comes first."""
    env = {"VISUAL": "code --wait", "EDITOR": "vi"}
    assert editor_command(env, "/p/test_a.py", 12) == ["code", "--wait", "+12", "/p/test_a.py"]
    assert editor_command({"EDITOR": "nvim"}, "/p/a.py", 3) == ["nvim", "+3", "/p/a.py"]
    assert editor_command({"EDITOR": "nano"}, "/p/a.py", 0) == ["nano", "/p/a.py"]
    assert editor_command({}, "/p/a.py", 3) is None
    assert editor_command({"EDITOR": "  "}, "/p/a.py", 3) is None


def test_eta_is_the_expected_time_left_over_the_workers() -> None:
    """ETA = expected seconds of unfinished tests / workers; unknown without history."""
    events = events_of("ui_demo_n2.jsonl")
    full = state_of(events)
    expected = {nodeid: 1.0 for nodeid in full.collected}
    assert eta_seconds(full, expected, 2, now=events[-1].t) is None  # the run is over
    first_half = state_of(events[: len(events) // 2])
    unfinished = [n for n in first_half.collected if n not in first_half.tests]
    eta = eta_seconds(first_half, expected, 2, now=first_half.last_t)
    assert eta is not None
    assert len(unfinished) / 2 <= eta <= len(first_half.collected) / 2
    assert eta_seconds(first_half, {}, 2, now=0.0) is None
    assert eta_seconds(first_half, {"not/a/test.py::x": 5.0}, 2, now=0.0) is None
