"""pytest-split's ``.test_durations``: ``{nodeid: seconds}``, keys sorted, indent 4."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from hotlap.model.run_state import RunState


def durations_from_state(state: RunState) -> dict[str, float]:
    """Setup + call + teardown seconds of every finished test of the run."""
    return {
        rec.nodeid: round(rec.duration, 6)
        for rec in state.tests.values()
        if rec.finished is not None
    }


def dumps_durations(durations: Mapping[str, float]) -> str:
    """The file's text, exactly as pytest-split writes it (sorted keys, indent 4)."""
    return json.dumps(dict(durations), sort_keys=True, indent=4) + "\n"


def write_durations(path: str | Path, durations: Mapping[str, float]) -> None:
    """Write ``durations`` to ``path`` atomically."""
    from hotlap.export.files import atomic_write

    atomic_write(path, dumps_durations(durations))
