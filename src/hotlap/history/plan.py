"""Planning a run from history: the schedule file the plugin reads, and how many workers.

The schedule file is JSON: ``{"version": 1, "durations": {nodeid: seconds},
"groups": {nodeid: key}}``. Tests with the same group key go to one worker together, because
they share a module- or class-scoped fixture that costs more to set up again on a second
worker than the balance it would buy.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from hotlap.history.rows import FixtureRow

SCHEDULE_VERSION = 1
#: A shared fixture cheaper than this per setup is not worth keeping tests together.
MIN_GROUP_FIXTURE = 0.1


def fixture_groups(
    fixtures: Iterable[FixtureRow], expected: Mapping[str, float], workers: int = 2
) -> dict[str, str]:
    """Group keys for tests behind an expensive module/class-scoped fixture.

    A module (or class) is kept together when one setup of its fixture costs at least
    :data:`MIN_GROUP_FIXTURE` seconds and the whole group still fits in a fair share of the
    run (total / workers); a bigger group would unbalance the workers more than the repeated
    setup costs.
    """
    cost: dict[str, float] = {}
    for row in fixtures:
        if row.scope not in ("module", "class") or not row.count:
            continue
        per_setup = (row.setup + row.teardown) / row.count
        for module in row.modules:
            key = module if row.scope == "module" else f"{module}::{row.name}"
            cost[key] = max(cost.get(key, 0.0), per_setup)
    share = sum(expected.values()) / max(1, workers)
    groups: dict[str, str] = {}
    for key, per_setup in cost.items():
        if per_setup < MIN_GROUP_FIXTURE:
            continue
        module = key.split("::", 1)[0]
        members = [n for n in expected if n.split("::", 1)[0] == module]
        if len(members) > 1 and sum(expected[n] for n in members) <= share:
            for nodeid in members:
                groups[nodeid] = module
    return groups


def schedule_payload(
    expected: Mapping[str, float], groups: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The schedule file's content."""
    return {
        "version": SCHEDULE_VERSION,
        "durations": dict(expected),
        "groups": dict(groups or {}),
    }


def write_schedule(path: Path, payload: Mapping[str, Any]) -> None:
    """Write the schedule file atomically."""
    from hotlap.export.files import atomic_write

    atomic_write(path, json.dumps(payload))


def read_schedule(path: str | Path) -> tuple[dict[str, float], dict[str, str]]:
    """(durations, groups) from a schedule file; empty on any problem (scheduling is optional).

    A pytest-split ``.test_durations`` file (a flat ``{nodeid: seconds}``) is read too.
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}, {}
    if not isinstance(data, dict):
        return {}, {}
    raw = data.get("durations", data) if "version" in data else data
    durations = {
        str(k): float(v)
        for k, v in (raw.items() if isinstance(raw, dict) else ())
        if isinstance(v, (int, float)) and not isinstance(v, bool)
    }
    groups_raw = data.get("groups", {}) if "version" in data else {}
    groups = {str(k): str(v) for k, v in groups_raw.items()} if isinstance(groups_raw, dict) else {}
    return durations, groups


def auto_workers(
    effective_cores: float, peak_rss_per_worker: int, mem_available: int, tests: int = 0
) -> int:
    """How many xdist workers to start: one per effective core, fewer if memory is short.

    ``peak_rss_per_worker`` is the largest peak RSS a worker reached in history (0 if
    unknown); workers are capped so that all of them together use at most 80 % of the
    available memory. Never more workers than tests, never fewer than one.
    """
    n = max(1, math.floor(effective_cores + 1e-9))
    if peak_rss_per_worker > 0 and mem_available > 0:
        n = min(n, max(1, int(0.8 * mem_available // peak_rss_per_worker)))
    if tests:
        n = min(n, tests)
    return n
