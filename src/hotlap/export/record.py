"""The raw event stream as JSON lines (``--record``), and reading it back for replay."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from hotlap.protocol import Event, ProtocolError, decode, encode


def write_record(path: str | Path, events: Iterable[Event]) -> None:
    """Write ``events`` to ``path``, one JSON line each."""
    from hotlap.export.files import atomic_write_bytes

    atomic_write_bytes(path, b"".join(encode(e) for e in events))


def read_record(path: str | Path) -> Iterator[Event]:
    """The events of a record file; lines that do not decode are skipped."""
    with open(path, "rb") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                yield decode(line)
            except ProtocolError:
                continue
