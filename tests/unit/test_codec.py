"""The JSON-lines codec: round trips, and every kind of bad line is refused."""

from __future__ import annotations

import json
import typing

import msgspec
import pytest

from hotlap.protocol import (
    EVENT_TYPES,
    PROTOCOL_VERSION,
    CollectionFinish,
    ProtocolError,
    TestDone,
    TestReport,
    decode,
    decode_hello,
    encode,
    encode_hello,
    encode_many,
)
from hotlap.protocol.codec import decode_lines, decode_v1, to_dict


def _report(**changes: object) -> TestReport:
    base = TestReport(
        "gw0",
        42,
        1.5,
        "t.py::test_a",
        "call",
        "failed",
        "failed",
        True,
        0.25,
        1.0,
        1.25,
        0.2,
        1000,
        2000,
        longrepr="E   assert 1 == 2",
    )
    return msgspec.structs.replace(base, **changes)


def test_round_trip_every_field() -> None:
    """An event decodes to an equal event, with its kind on the line."""
    event = _report(stdout="out\n", crash_path="t.py", crash_line=3)
    line = encode(event)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    data = json.loads(line)
    assert data["kind"] == "test_report" and "v" not in data
    assert decode(line) == event


def test_lone_surrogate_encodes_as_valid_json() -> None:
    """Hostile text (a lone surrogate) never makes encoding fail: it travels escaped."""
    event = _report(longrepr="bad \udc80 byte", stdout="é \udcff")
    line = encode(event)
    line.decode("utf-8")  # valid UTF-8 on the wire
    back = decode(line)
    assert isinstance(back, TestReport)
    assert back.longrepr == "bad \\udc80 byte" and back.stdout == "é \\udcff"
    assert back.nodeid == event.nodeid


def test_defaults_may_be_omitted() -> None:
    """Optional fields take their defaults when a sender leaves them out."""
    data = to_dict(CollectionFinish("main", 1, 0.0, count=1, nodeids=["a"]))
    del data["deselected"]
    assert decode(json.dumps(data)).deselected == 0  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"not json", "malformed"),
        (b"[1, 2]", "Expected `object`"),
        (b'{"kind": "nope"}', "Invalid value 'nope'"),
        (b'{"worker": "gw0"}', "missing required field `kind`"),
        (b'{"kind": "worker_start", "worker": "gw0"}', "missing required field"),
        (
            b'{"kind": "worker_start", "worker": "gw0", "pid": "1", "t": 0, "wall": 0}',
            "Expected `int`, got `str`",
        ),
        (
            b'{"kind": "worker_start", "worker": "gw0", "pid": 1, "t": 0, "wall": 0, "extra": 1}',
            "unknown field `extra`",
        ),
        (b"\xff\xfe", "malformed"),
    ],
)
def test_bad_lines_raise_protocol_error(line: bytes, message: str) -> None:
    """Each malformed line raises ProtocolError saying what is wrong (never another error)."""
    with pytest.raises(ProtocolError, match=message):
        decode(line)


def test_bool_is_not_an_int() -> None:
    """``True`` is refused where an int is expected (JSON booleans are not pids)."""
    data = to_dict(_report())
    data["pid"] = True
    with pytest.raises(ProtocolError, match="got `bool`"):
        decode(json.dumps(data))


def test_every_event_type_round_trips() -> None:
    """Every registered event class encodes and decodes with made-up values of its types,
    alone and as a batch of lines."""
    samples = {str: "x", int: 1, float: 1.5, bool: True, list: [], dict: {}}
    events = []
    for kind, cls in EVENT_TYPES.items():
        hints = typing.get_type_hints(cls)
        kwargs = {}
        for name in cls.__struct_fields__:
            origin = typing.get_origin(hints[name]) or hints[name]
            kwargs[name] = samples[origin]
        event = cls(**kwargs)
        assert cls.kind == kind
        assert decode(encode(event)) == event, kind
        events.append(event)
    assert decode_lines(encode_many(events)) == (events, 0)


def test_a_bad_line_in_a_batch_costs_only_that_line() -> None:
    """The server decodes what it read in one call; one broken line among good ones is
    counted and dropped, the others kept in order."""
    a, b = _report(nodeid="a"), _report(nodeid="b")
    data = encode(a) + b'{"kind": "nope"}\n' + b"garbage\n" + encode(b)
    assert decode_lines(data) == ([a, b], 2)


def test_protocol_1_lines_still_read() -> None:
    """A record written by protocol 1 (``"v": 1`` in each event) still replays."""
    done = TestDone("gw0", 1, 2.0, "t.py::a", 0.1, 0.2, 0.3, 5.0, 5.6, 0.5, 10, 20)
    line = json.dumps({"kind": "test_done", "v": 1, **msgspec.structs.asdict(done)}).encode()
    with pytest.raises(ProtocolError):
        decode(line)
    assert decode_v1(line) == done
    with pytest.raises(ProtocolError):
        decode_v1(encode(done))  # not protocol 1


def test_hello_checks_version_and_token() -> None:
    """A hello with the right token names its sender; a wrong token or protocol version is
    refused, and so is an event where a hello belongs."""
    line = encode_hello("secret", "gw1", 77)
    assert json.loads(line)["v"] == PROTOCOL_VERSION
    assert decode_hello(line, "secret") == ("gw1", 77)
    with pytest.raises(ProtocolError, match="token"):
        decode_hello(line, "other")
    old = json.dumps({**json.loads(line), "v": PROTOCOL_VERSION - 1}).encode()
    with pytest.raises(ProtocolError, match="protocol version"):
        decode_hello(old, "secret")
    with pytest.raises(ProtocolError):
        decode_hello(encode(_report()), "secret")


def test_encoding_ignores_a_patched_json() -> None:
    """A test that replaces ``json.dumps``/``json.loads`` changes nothing on the wire."""
    saved = json.dumps, json.loads
    try:
        json.dumps = lambda *a, **k: "garbage"  # type: ignore[assignment]
        json.loads = lambda *a, **k: {}  # type: ignore[assignment]
        event = _report()
        assert decode(encode(event)) == event
    finally:
        json.dumps, json.loads = saved
