"""The JSON-lines codec: round trips, and every kind of bad line is refused."""

from __future__ import annotations

import dataclasses
import json

import pytest

from hotlap.protocol import (
    EVENT_TYPES,
    PROTOCOL_VERSION,
    CollectionFinish,
    ProtocolError,
    TestReport,
    decode,
    decode_hello,
    encode,
    encode_hello,
)
from hotlap.protocol.codec import to_dict


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
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_round_trip_every_field() -> None:
    """An event decodes to an equal event, with kind and version on the line."""
    event = _report(stdout="out\n", crash_path="t.py", crash_line=3)
    line = encode(event)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    data = json.loads(line)
    assert data["kind"] == "test_report" and data["v"] == PROTOCOL_VERSION
    assert decode(line) == event


def test_lone_surrogate_encodes_as_valid_json() -> None:
    """Hostile text (a lone surrogate) never makes encoding fail."""
    event = _report(longrepr="bad \udc80 byte")
    line = encode(event)
    line.decode("utf-8")  # valid UTF-8 on the wire
    assert decode(line).longrepr == "bad \udc80 byte"


def test_defaults_may_be_omitted() -> None:
    """Optional fields take their defaults when a sender leaves them out."""
    data = to_dict(CollectionFinish("main", 1, 0.0, count=1, nodeids=["a"]))
    del data["deselected"]
    assert decode(json.dumps(data)).deselected == 0  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "JSON object"),
        (b'{"kind": "test_start", "v": 999}', "protocol version"),
        (b'{"kind": "nope", "v": %d}' % PROTOCOL_VERSION, "unknown event kind"),
        (b'{"kind": "worker_start", "v": %d, "worker": "gw0"}' % PROTOCOL_VERSION, "missing"),
        (
            b'{"kind": "worker_start", "v": %d, "worker": "gw0", "pid": "1", "t": 0, "wall": 0}'
            % PROTOCOL_VERSION,
            "wrong type",
        ),
        (
            b'{"kind": "worker_start", "v": %d, "worker": "gw0", "pid": 1, "t": 0, "wall": 0,'
            b' "extra": 1}' % PROTOCOL_VERSION,
            "unknown field",
        ),
        (b"\xff\xfe", "not JSON"),
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
    with pytest.raises(ProtocolError, match="wrong type"):
        decode(json.dumps(data))


def test_every_event_type_round_trips() -> None:
    """Every registered event class encodes and decodes with made-up values of its types."""
    samples = {str: "x", int: 1, float: 1.5, bool: True, list: [], dict: {}}
    for kind, cls in EVENT_TYPES.items():
        kwargs = {}
        hints = __import__("typing").get_type_hints(cls)
        for f in dataclasses.fields(cls):
            origin = __import__("typing").get_origin(hints[f.name]) or hints[f.name]
            kwargs[f.name] = samples[origin]
        event = cls(**kwargs)
        assert decode(encode(event)) == event, kind


def test_hello_checks_the_token() -> None:
    """A hello with the right token names its sender; a wrong token is refused."""
    line = encode_hello("secret", "gw1", 77)
    assert decode_hello(line, "secret") == ("gw1", 77)
    with pytest.raises(ProtocolError, match="token"):
        decode_hello(line, "other")
    with pytest.raises(ProtocolError):
        decode_hello(encode(_report()), "secret")


def _generic(event: object) -> bytes:
    """The reference encoding: json.dumps of the event's dict (what the compiled encoders
    must reproduce byte for byte)."""
    return json.dumps(to_dict(event), separators=(",", ":")).encode("ascii") + b"\n"  # type: ignore[arg-type]


def test_compiled_encoders_write_what_json_writes() -> None:
    """Every event type, with awkward values of every field type (non-ASCII and lone
    surrogates, huge and tiny and non-finite floats, ints where floats go, bools where ints
    go, nested lists): the compiled encoder's line equals json's, byte for byte."""
    import random
    import typing

    rng = random.Random(7)
    strings = [
        "",
        "x",
        "é ü",
        'tab\tquote"back\\slash',
        "bad \udc80 byte",
        "\u2603\U0001f600",
        "a" * 300,
    ]
    floats: list[object] = [
        0.0,
        -0.0,
        1.5,
        1e-300,
        1.7976931348623157e308,
        1796291975.629934,
        float("inf"),
        float("-inf"),
        float("nan"),
        0,
        7,
        True,
    ]
    ints: list[object] = [0, -1, 2**63, 10**30, True, False]
    values: dict[object, list[object]] = {
        str: strings,
        float: floats,
        int: ints,
        bool: [True, False],
        list: [[], ["x", 1, 1.5, None], [["gw0", 0.5, 1024]], [strings]],
        dict: [{}, {"passed": 3, "é": [1, 2]}],
    }
    for kind, cls in EVENT_TYPES.items():
        hints = typing.get_type_hints(cls)
        for _ in range(40):
            kwargs = {}
            for f in dataclasses.fields(cls):
                origin = typing.get_origin(hints[f.name]) or hints[f.name]
                kwargs[f.name] = rng.choice(values[origin])
            event = cls(**kwargs)
            assert encode(event) == _generic(event), (kind, kwargs)


def test_a_value_of_the_wrong_type_still_encodes() -> None:
    """A field holding what its annotation does not say (a bug elsewhere) falls back to
    json instead of raising on the test's path."""
    event = _report(nodeid=None, duration="slow")  # type: ignore[arg-type]
    assert encode(event) == _generic(event)


def test_compiled_decoders_agree_with_the_checks() -> None:
    """Valid events and every kind of broken field (missing, extra, wrong JSON type, a bool
    where a number goes): a compiled decoder builds exactly what the generic checks build,
    and refuses (None) exactly what they refuse."""
    import random

    from hotlap.protocol.codec import _SPECS, _checked, _compile_builder

    rng = random.Random(11)
    by_type = {str: "x", int: 3, float: 2.5, bool: False, list: ["a"], dict: {"k": 1}}
    wrong: list[object] = [None, "s", 1, 1.5, True, [], {}]
    for kind, spec in _SPECS.items():
        build = _compile_builder(spec)
        hints = __import__("typing").get_type_hints(spec.cls)
        valid: dict[str, object] = {"kind": kind, "v": PROTOCOL_VERSION}
        for f in dataclasses.fields(spec.cls):
            origin = __import__("typing").get_origin(hints[f.name]) or hints[f.name]
            valid[f.name] = by_type[origin]
        cases = [dict(valid), {k: v for k, v in valid.items() if k not in spec.required}]
        for name in spec.names:
            cases.append({k: v for k, v in valid.items() if k != name})
            for value in wrong:
                cases.append({**valid, name: value})
        cases.append({**valid, "extra": 1})
        cases += [{**valid, "t": 7}, {**valid, "pid": 7.0}]
        rng.shuffle(cases)
        for data in cases:
            try:
                expected = _checked(spec, data)
            except ProtocolError:
                assert build(data) is None, (kind, data)
            else:
                assert build(data) == expected, (kind, data)


def test_fields_encoders_write_what_the_event_would() -> None:
    """The per-test events are encoded from their fields without building them: the line is
    the one the event would give, defaults included, and a wrong type falls back to json."""
    from hotlap.protocol import TestDone, TestStart
    from hotlap.protocol.codec import fields_encoder

    start = {"worker": "gw0", "pid": 1, "t": 2.5, "nodeid": "t.py::é", "path": "t.py", "line": 3}
    start["domain"] = "é"
    assert fields_encoder(TestStart)(**start) == encode(TestStart(**start))  # type: ignore[arg-type]
    done = {"worker": "main", "pid": 2, "t": 3.0, "nodeid": "t.py::a\udc80", "setup": 0.1,
            "call": 1, "teardown": float("nan"), "start": 0.0, "stop": 1e300, "cpu": 0.5,
            "rss": 10, "maxrss": True}  # fmt: skip
    assert fields_encoder(TestDone)(**done) == encode(TestDone(**done))  # type: ignore[arg-type]
    odd = {**done, "nodeid": None, "setup": "slow"}
    assert fields_encoder(TestDone)(**odd) == _generic(TestDone(**odd))  # type: ignore[arg-type]
