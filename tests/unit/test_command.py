"""Building pytest's command line: argument split and hotlap's choice of ``-n``."""

from __future__ import annotations

import pytest

from hotlap.commands.options import parse_run_args
from hotlap.plugin.workers import RETRY, Estimate, Seen, decide
from hotlap.runner.command import pytest_command
from hotlap.runner.session import parse_summary_line


@pytest.fixture(autouse=True)
def _no_addopts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)


def test_unknown_options_go_to_pytest_in_order() -> None:
    """hotlap keeps its own options and passes the rest, in order, after ``--`` too."""
    ns, rest = parse_run_args(
        "hotlap", ["-x", "--json", "r.json", "-k", "a or b", "--", "--json", "-q"]
    )
    assert ns.json == "r.json"
    assert rest == ["-x", "-k", "a or b", "--json", "-q"]


def test_no_abbreviations() -> None:
    """A prefix of a hotlap option is not taken as it (``--dur`` is pytest's business)."""
    ns, rest = parse_run_args("hotlap", ["--durations=5"])
    assert ns.durations_file is None and rest == ["--durations=5"]


def test_small_runs_use_one_process() -> None:
    """A handful of quick tests runs without xdist: its start-up would cost more."""
    n, why = decide(2.0, 0, None, Estimate(3, 0.01, "history"))
    assert n == 0 and "start-up" in why


def test_runs_worth_it_use_the_effective_cores() -> None:
    """Enough test seconds: one worker per effective core (a quota of 2.5 cores: 2)."""
    assert decide(2.5, 0, None, Estimate(40, 5.0, "history"))[0] == 2
    assert decide(4.0, 0, None, Estimate(4000, 2.0, "def test lines"))[0] == 4


def test_one_core_or_a_memory_cap_of_one_means_one_process() -> None:
    """No second core to use, or history's peak memory allows one worker: ``-n 0``."""
    assert decide(1.0, 0, None, Estimate(1000, 100.0, "history")) == (0, "-n 0: 1 effective core")
    n, why = decide(4.0, 1, None, Estimate(1000, 100.0, "history"))
    assert n == 0 and "memory" in why
    assert decide(4.0, 3, None, Estimate(1000, 100.0, "history"))[0] == 3


def test_timed_runs_decide_over_the_model() -> None:
    """Both choices timed for these arguments: the faster, even where the model disagrees."""
    seen = Seen({0: [9.0, 9.6, 10.1], 2: [15.0]}, tests=2459, seconds=5.5)
    n, why = decide(2.0, 0, seen, Estimate(2459, 5.5, "last run of these arguments"))
    assert n == 0 and "(9.6s vs 15.0s)" in why


def test_an_untimed_choice_is_tried_once_when_it_may_be_faster() -> None:
    """Only ``-n 2`` timed and the model's saving is small against it (click: 11.6 s, 1 s
    saved): try ``-n 0``; a long suite whose saving is large stays. Only ``-n 0`` timed:
    ``-n 2`` is tried only when the model expects it to save time, however slow the
    machine made the ``-n 0`` run (5 trivial tests took 2.7 s at load 13)."""
    close = Seen({2: [11.6]}, tests=2459, seconds=3.5)
    n, why = decide(2.0, 0, close, Estimate(2459, 3.5, "last run of these arguments"))
    assert n == 0 and why.startswith("-n 0: trying it once (-n 2 took 11.6s;"), why
    far = Seen({2: [31.0]}, tests=400, seconds=60.0)
    assert decide(2.0, 0, far, Estimate(400, 60.0, "last run of these arguments"))[0] == 2
    tiny = Seen({0: [2.7]}, tests=5, seconds=0.0)
    assert decide(2.0, 0, tiny, Estimate(5, 0.0, "last run of these arguments"))[0] == 0
    worth = Seen({0: [9.0]}, tests=300, seconds=6.0)
    n, why = decide(2.0, 0, worth, Estimate(300, 6.0, "last run of these arguments"))
    assert n == 2 and "trying it once (-n 0 took 9.0s" in why


def test_a_close_loser_is_timed_again_after_a_while() -> None:
    """The slower choice, within 1.5x of the faster, is tried again every RETRY runs."""
    walls = {0: [9.0], 2: [10.0]}
    est = Estimate(2459, 3.5, "last run of these arguments")
    assert decide(2.0, 0, Seen(walls, 2459, 3.5, {0: 0, 2: RETRY - 1}), est)[0] == 0
    n, why = decide(2.0, 0, Seen(walls, 2459, 3.5, {0: 0, 2: RETRY}), est)
    assert n == 2 and "trying it again" in why
    far = {0: [5.0], 2: [10.0]}
    assert decide(2.0, 0, Seen(far, 2459, 3.5, {0: 0, 2: RETRY}), est)[0] == 0


def test_command_loads_the_plugin() -> None:
    """pytest runs with this interpreter and ``-p hotlap`` before the user's arguments."""
    from hotlap.runner.command import WorkerChoice

    cmd = pytest_command(["-x"], WorkerChoice(["-n", "2"], 2, ""))
    assert cmd[1:] == ["-m", "pytest", "-p", "hotlap", "-n", "2", "-x"]


@pytest.mark.parametrize(
    ("line", "summary"),
    [
        ("==== 1 failed, 2 passed in 0.12s ====", "1 failed, 2 passed in 0.12s"),
        ("1 passed in 0.01s", "1 passed in 0.01s"),
        ("===== no tests ran in 0.01s =====", "no tests ran in 0.01s"),
        (
            "=== 3 passed, 1 warning in 65.01s (0:01:05) ===",
            "3 passed, 1 warning in 65.01s (0:01:05)",
        ),
        ("==== test session starts ====", None),
        ("collected 3 items", None),
    ],
)
def test_summary_line_parsing(line: str, summary: str | None) -> None:
    """pytest's final line is recognised with and without ``=`` padding, and nothing else is."""
    assert parse_summary_line(line) == summary


def test_choosing_n_imports_neither_pytest_nor_xdist() -> None:
    """Everything before pytest starts delays it: the app leaves -n to the plugin inside
    pytest and imports neither (``import xdist`` imports pytest, ~130 ms here)."""
    import subprocess
    import sys

    code = (
        "import sys; from hotlap.runner.command import choose_workers;"
        "choice = choose_workers();"
        "print(choice.env, '|', sorted(m for m in ('pytest', 'xdist') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    env, _, imported = out.partition("|")
    assert "HOTLAP_WORKERS" in env and '"cores"' in env, out
    assert imported.strip() == "[]", out
