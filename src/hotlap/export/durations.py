"""pytest-split's ``.test_durations``: ``{nodeid: seconds}``, keys sorted, indent 4.

Like ``pytest --store-durations``, a run merges its tests into the file already there: a
``-k`` run, a ``--lf`` run or one CI shard updates the tests it ran and keeps the others'
(pytest-split's ``--clean-durations`` is ``merge=False`` here).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hotlap import jsonref
from hotlap.model.run_state import RunState


def durations_from_state(state: RunState) -> dict[str, float]:
    """Setup + call + teardown seconds of every finished test of the run (none when pytest
    only collected or planned: those tests ran nothing)."""
    if state.session.dry_run:
        return {}
    return {
        rec.nodeid: round(rec.duration, 6)
        for rec in state.tests.values()
        if rec.finished is not None
    }


def dumps_durations(durations: Mapping[str, float]) -> str:
    """The file's text, exactly as pytest-split writes it (sorted keys, indent 4)."""
    return jsonref.dumps(dict(durations), sort_keys=True, indent=4) + "\n"


def is_durations(data: Any) -> bool:
    """Whether decoded JSON is a durations file's content: an object of seconds."""
    return isinstance(data, dict) and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in data.values()
    )


class DurationsFileError(OSError):
    """The file to merge into is not a durations file: left as it was."""


def read_durations(path: str | Path) -> dict[str, float]:
    """The durations in ``path`` ({} when there is no such file).

    Raises :class:`DurationsFileError` for a file that is not a JSON object of test ids to
    seconds, rather than overwrite what may be someone's data.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except UnicodeDecodeError as exc:
        raise DurationsFileError(f"{path}: not a durations file ({exc})") from None
    try:
        data = jsonref.loads(text) if text.strip() else {}
    except jsonref.JSONDecodeError as exc:
        raise DurationsFileError(f"{path}: not a durations file (invalid JSON: {exc})") from None
    if not is_durations(data):
        raise DurationsFileError(
            f"{path}: not a durations file (expected a JSON object of test ids to seconds)"
        )
    return {str(k): float(v) for k, v in data.items()}


def write_durations(
    path: str | Path, durations: Mapping[str, float], *, merge: bool = False
) -> None:
    """Write ``durations`` to ``path`` atomically; with ``merge``, over the durations the
    file already holds (which must be a durations file: see :func:`read_durations`)."""
    from hotlap.export.files import atomic_write

    if merge:
        durations = {**read_durations(path), **durations}
    atomic_write(path, dumps_durations(durations))
