"""Writing export files safely (atomically) and all of a run's exports at once."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Sequence
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
    durations_merge: bool = True,
) -> list[str]:
    """Write each export asked for; return the paths written. ``history`` (regressions and
    flaky tests found by comparing with earlier runs) goes into the JSON report. The
    durations are merged into the file already at ``durations_path`` unless
    ``durations_merge`` is false.

    One export that cannot be written does not stop the others: :class:`ExportError` is
    raised after all were tried, with the paths that were written.
    """
    from hotlap.export.durations import durations_from_state, write_durations
    from hotlap.export.record import write_record
    from hotlap.export.report import RunMeta, build_report, write_report

    assert isinstance(meta, RunMeta)
    writers: list[tuple[str | None, Callable[[str], None]]] = [
        (json_path, lambda p: write_report(p, build_report(state, meta, history=history))),
        (
            durations_path,
            lambda p: write_durations(p, durations_from_state(state), merge=durations_merge),
        ),
        (record_path, lambda p: write_record(p, events)),
    ]
    written: list[str] = []
    errors: list[str] = []
    for path, write in writers:
        if not path:
            continue
        try:
            write(path)
        except OSError as exc:
            errors.append(str(exc))
        else:
            written.append(path)
    if errors:
        raise ExportError("; ".join(errors), written)
    return written


class ExportError(OSError):
    """Some exports could not be written; ``written`` lists the ones that were."""

    def __init__(self, message: str, written: list[str]) -> None:
        super().__init__(message)
        self.written = written
