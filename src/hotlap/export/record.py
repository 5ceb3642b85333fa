"""The raw event stream as JSON lines (``--record``), and reading it back for replay."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from hotlap.protocol import Event, ProtocolError, decode, encode_many
from hotlap.protocol.codec import decode_lines, decode_v1


def write_record(path: str | Path, events: Iterable[Event]) -> None:
    """Write ``events`` to ``path``, one JSON line each."""
    from hotlap.export.files import atomic_write_bytes

    atomic_write_bytes(path, encode_many(list(events)))


def read_record(path: str | Path) -> Iterator[Event]:
    """The events of a record file (this protocol's or protocol 1's); lines that do not
    decode are skipped."""
    with open(path, "rb") as f:
        data = f.read()
    events, bad = decode_lines(data)
    if not bad:
        yield from events
        return
    for line in data.splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            yield decode(line)
        except ProtocolError:
            try:
                yield decode_v1(line)
            except ProtocolError:
                continue
