"""Writing export files safely (atomically) and all of a run's exports at once."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hotlap.model.run_state import RunState
    from hotlap.protocol import Event


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file and a rename: readers never see half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def write_exports(
    state: RunState,
    meta: object,
    *,
    json_path: str | None = None,
    durations_path: str | None = None,
    record_path: str | None = None,
    events: Sequence[Event] = (),
    history: dict[str, Any] | None = None,
) -> list[str]:
    """Write each export asked for; return the paths written. ``history`` (regressions and
    flaky tests found by comparing with earlier runs) goes into the JSON report."""
    from hotlap.export.durations import durations_from_state, write_durations
    from hotlap.export.record import write_record
    from hotlap.export.report import RunMeta, build_report, write_report

    written: list[str] = []
    if json_path:
        assert isinstance(meta, RunMeta)
        write_report(json_path, build_report(state, meta, history=history))
        written.append(json_path)
    if durations_path:
        write_durations(durations_path, durations_from_state(state))
        written.append(durations_path)
    if record_path:
        write_record(record_path, events)
        written.append(record_path)
    return written
