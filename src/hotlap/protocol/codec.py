"""JSON-lines codec for events, by msgspec.

One event is one line: a JSON object whose ``kind`` names its class, then the event's fields.
:func:`decode` checks the kind and every field's type (in C: about a microsecond per event)
and raises :class:`ProtocolError` for anything else, so a reader can count and drop a bad
line. :func:`decode_lines` takes a whole buffer of lines at once, the server's fast path.

A connection starts with a *hello* line carrying the protocol version and the run's token;
see :func:`encode_hello`. Neither end uses :mod:`json`, so a test that replaces
``json.dumps`` changes nothing here.
"""

from __future__ import annotations

import functools
import operator
from typing import Any

import msgspec

from hotlap.protocol.events import EVENT_TYPES, PROTOCOL_VERSION, Event


class ProtocolError(ValueError):
    """A line that is not a valid event of this protocol version."""


#: The union of every event class (what a line may decode to).
_EventUnion: Any = functools.reduce(operator.or_, EVENT_TYPES.values())
_encoder = msgspec.json.Encoder()
_decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(_EventUnion)
_any_decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder()


def to_dict(event: Event) -> dict[str, Any]:
    """The event as a JSON-ready dict, with its ``kind``."""
    data: dict[str, Any] = {"kind": event.kind}
    data.update(msgspec.structs.asdict(event))
    return data


def _clean(value: Any) -> Any:
    """``value`` with every string's lone surrogates (unencodable as UTF-8) escaped."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value.encode("utf-8", "backslashreplace").decode("utf-8")
        return value
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {_clean(k): _clean(v) for k, v in value.items()}
    return value


def encode(event: Event) -> bytes:
    """One JSON line (with the trailing newline) for ``event``.

    Text that UTF-8 cannot hold (a lone surrogate in hostile test output) is sent as its
    ``\\udXXX`` escape, so encoding never fails on a test's path.
    """
    try:
        return _encoder.encode(event) + b"\n"
    except UnicodeEncodeError:
        fields = {k: _clean(v) for k, v in msgspec.structs.asdict(event).items()}
        return _encoder.encode(msgspec.structs.replace(event, **fields)) + b"\n"


def encode_many(events: list[Event]) -> bytes:
    """The lines of ``events``, joined (one call for a whole batch)."""
    try:
        return b"".join(_encoder.encode(e) + b"\n" for e in events)
    except UnicodeEncodeError:
        return b"".join(encode(e) for e in events)


def decode(line: bytes | str) -> Event:
    """Decode one JSON line into an event, or raise :class:`ProtocolError`."""
    try:
        event: Event = _decoder.decode(line)
    except msgspec.DecodeError as exc:
        raise ProtocolError(str(exc)) from None
    return event


def decode_lines(data: bytes) -> tuple[list[Event], int]:
    """Every event in ``data`` (whole lines), and how many lines did not decode.

    The whole buffer is decoded in one call when it is all valid, the common case; a buffer
    with a bad line is decoded line by line so only that line is lost.
    """
    try:
        events: list[Event] = _decoder.decode_lines(data)
    except msgspec.DecodeError:
        pass
    else:
        return events, 0
    events, bad = [], 0
    for line in data.split(b"\n"):
        if not line.strip():
            continue
        try:
            events.append(_decoder.decode(line))
        except msgspec.DecodeError:
            bad += 1
    return events, bad


def decode_v1(line: bytes) -> Event:
    """A line of protocol 1 (a record written before 0.2: ``"v": 1`` in every event)."""
    try:
        data = _any_decoder.decode(line)
        if not isinstance(data, dict) or data.pop("v", None) != 1:
            raise ProtocolError("not a protocol 1 event")
        event: Event = msgspec.convert(data, _EventUnion)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ProtocolError(str(exc)) from None
    return event


def encode_hello(token: str, worker: str, pid: int) -> bytes:
    """The first line a sender writes on a new connection."""
    hello = {"kind": "hello", "v": PROTOCOL_VERSION, "token": token, "worker": worker, "pid": pid}
    return _encoder.encode(hello) + b"\n"


def decode_hello(line: bytes, token: str) -> tuple[str, int]:
    """Check a hello line against the run's token; return the sender's (worker, pid)."""
    try:
        data = _any_decoder.decode(line)
    except msgspec.DecodeError as exc:
        raise ProtocolError(f"hello is not JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("kind") != "hello":
        raise ProtocolError("the first line of a connection must be a hello")
    if data.get("v") != PROTOCOL_VERSION:
        raise ProtocolError(f"protocol version {data.get('v')!r}, expected {PROTOCOL_VERSION}")
    if data.get("token") != token:
        raise ProtocolError("wrong token")
    worker, pid = data.get("worker"), data.get("pid")
    if not isinstance(worker, str) or type(pid) is not int:
        raise ProtocolError("hello needs a worker name and a pid")
    return worker, pid
