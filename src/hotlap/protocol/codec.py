"""JSON-lines codec for events.

One event is one line: a JSON object with ``kind``, ``v`` (the protocol version) and the
event's fields. :func:`decode` checks the version, the kind and every field's type, and raises
:class:`ProtocolError` for anything else, so a reader can count and drop a bad line.

A connection starts with a *hello* line carrying the run's token; see :func:`encode_hello`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import operator
import typing
from collections.abc import Callable
from typing import Any

from hotlap.jsonref import dumps as _json_dumps
from hotlap.jsonref import loads as _json_loads
from hotlap.protocol.events import EVENT_TYPES, PROTOCOL_VERSION, Event


class ProtocolError(ValueError):
    """A line that is not a valid event of this protocol version."""


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_float(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


_CHECKS: dict[str, Callable[[Any], bool]] = {
    "bool": lambda v: isinstance(v, bool),
    "int": _is_int,
    "float": _is_float,
    "str": lambda v: isinstance(v, str),
    "list": lambda v: isinstance(v, list),
    "dict": lambda v: isinstance(v, dict),
}


def _type_name(annotation: Any) -> str:
    """A field's outer type name: "list" for ``list[str]``.

    Annotations are strings (``from __future__ import annotations``); reading the outer name
    is enough, and far cheaper at import than typing.get_type_hints.
    """
    name = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
    return str(name).split("[", 1)[0].strip()


def _checker(annotation: Any) -> Callable[[Any], bool]:
    check = _CHECKS.get(_type_name(annotation))
    if check is None:  # pragma: no cover - a new event field of an unsupported type
        raise TypeError(f"unsupported event field type {annotation!r}")
    return check


class _Spec(typing.NamedTuple):
    cls: type[Event]
    names: tuple[str, ...]
    required: frozenset[str]
    checks: dict[str, Callable[[Any], bool]]


def _spec(cls: type[Event]) -> _Spec:
    fields = dataclasses.fields(cls)
    required = frozenset(
        f.name
        for f in fields
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    )
    checks = {f.name: _checker(f.type) for f in fields}
    return _Spec(cls, tuple(f.name for f in fields), required, checks)


_SPECS: dict[str, _Spec] = {kind: _spec(cls) for kind, cls in EVENT_TYPES.items()}
_GETTERS: dict[type[Event], tuple[tuple[str, ...], Callable[[Event], tuple[Any, ...]]]] = {
    s.cls: (s.names, operator.attrgetter(*s.names)) for s in _SPECS.values()
}
_dumps = json.JSONEncoder(separators=(",", ":")).encode


def to_dict(event: Event) -> dict[str, Any]:
    """The event as a JSON-ready dict, with ``kind`` and ``v``."""
    names, get = _GETTERS[type(event)]
    data: dict[str, Any] = {"kind": event.kind, "v": PROTOCOL_VERSION}
    data.update(zip(names, get(event), strict=True))
    return data


def _encode_generic(event: Event) -> bytes:
    return _dumps(to_dict(event)).encode("ascii") + b"\n"


# Encoding is on every test's path in the workers, where json.JSONEncoder.encode of an event's
# dict measured 30 us (cold caches between tests; 10 us in a tight loop). Each event type gets
# a function compiled from its fields that writes the same bytes by concatenation: scalars
# through the C helpers json itself uses (encode_basestring_ascii, float.__repr__,
# int.__repr__), lists and dicts through the encoder. A value of an unexpected type takes the
# generic path, and tests check that both give identical lines.
_FAST_HELPERS = {
    "_s": json.encoder.encode_basestring_ascii,
    "_i": int.__repr__,
    "_fr": float.__repr__,
    "_fin": math.isfinite,
    "_j": _dumps,
}


def _value_source(v: str, annotation: Any) -> str:
    kind = _type_name(annotation)
    if kind == "str":
        return f"_s({v})"
    if kind == "int":
        return f"(_i({v}) if type({v}) is int else _j({v}))"
    if kind == "float":
        return f"(_fr({v}) if type({v}) is float and _fin({v}) else _j({v}))"
    if kind == "bool":
        return f"('true' if {v} is True else 'false' if {v} is False else _j({v}))"
    return f"_j({v})"


def _line_source(cls: type[Event], value: Callable[[str], str]) -> str:
    """The expression that builds ``cls``'s line, each field read by ``value(name)``."""
    head = _json_dumps({"kind": cls.kind, "v": PROTOCOL_VERSION}, separators=(",", ":"))[:-1]
    parts = [repr(head)]
    for f in dataclasses.fields(cls):
        parts += [repr("," + _json_dumps(f.name) + ":"), _value_source(value(f.name), f.type)]
    return "(" + " + ".join(parts) + " + '}\\n').encode('ascii')"


def _compile(source: str, name: str, namespace: dict[str, Any]) -> Any:
    exec(compile(source, f"<hotlap {name}>", "exec"), namespace)
    return namespace["encode"]


def _compile_encoder(kind: str, cls: type[Event]) -> Callable[[Event], bytes]:
    body = _line_source(cls, lambda name: f"e.{name}")
    source = f"def encode(e):\n    return {body}\n"
    fast: Callable[[Event], bytes] = _compile(source, f"encoder {kind}", dict(_FAST_HELPERS))
    return fast


def fields_encoder(cls: type[Event]) -> Callable[..., bytes]:
    """A function taking ``cls``'s fields as keywords and returning the line
    ``encode(cls(**fields))`` would, without building the event (a frozen dataclass costs
    ~10 us to build in a worker; the per-test events are sent this way)."""
    params, names = [], []
    namespace: dict[str, Any] = dict(_FAST_HELPERS, _cls=cls, _slow=_encode_generic)
    for f in dataclasses.fields(cls):
        names.append(f.name)
        if f.default is not dataclasses.MISSING:
            namespace[f"_d_{f.name}"] = f.default
            params.append(f"{f.name}=_d_{f.name}")
        elif f.default_factory is not dataclasses.MISSING:
            raise TypeError(f"{cls.__name__}.{f.name}: a default factory is not supported here")
        else:
            params.append(f.name)
    call = ", ".join(f"{n}={n}" for n in names)
    source = (
        f"def encode(*, {', '.join(params)}):\n"
        f"    try:\n"
        f"        return {_line_source(cls, lambda name: name)}\n"
        f"    except (TypeError, AttributeError):\n"
        f"        return _slow(_cls({call}))\n"
    )
    fast: Callable[..., bytes] = _compile(source, f"fields encoder {cls.kind}", namespace)
    return fast


#: Compiled on first use (a compile costs ~0.4 ms, and a worker sends few of the types).
_ENCODERS: dict[type[Event], Callable[[Event], bytes]] = {}


def encode(event: Event) -> bytes:
    """One JSON line (with the trailing newline) for ``event``.

    Non-ASCII text is written as ``\\uXXXX`` escapes, lone surrogates included, so encoding
    never fails on hostile test output.
    """
    cls = type(event)
    fast = _ENCODERS.get(cls)
    if fast is None:
        fast = _ENCODERS[cls] = _compile_encoder(event.kind, cls)
    try:
        return fast(event)
    except (TypeError, AttributeError):
        return _encode_generic(event)


# Decoding is the app's share of every event (two per test): like the encoders, each kind
# gets a builder compiled from its fields that checks the JSON types inline and calls the
# class with positional arguments. It answers None for anything unexpected, and the
# generic path below then names the problem (or, for a valid event, builds the same thing).
_MISSING = object()
_EXACT = {"str": "str", "int": "int", "bool": "bool", "list": "list", "dict": "dict"}


def _compile_builder(spec: _Spec) -> Callable[[dict[str, Any]], Event | None]:
    namespace: dict[str, Any] = {
        "_cls": spec.cls,
        "_M": _MISSING,
        "_allowed": frozenset((*spec.names, "kind", "v")),
    }
    lines = ["def build(d):", "    if not d.keys() <= _allowed:", "        return None"]
    checks = []
    for f in dataclasses.fields(spec.cls):
        name, v = f.name, f"v_{f.name}"
        if f.default is not dataclasses.MISSING:
            namespace[f"_d_{name}"] = f.default
            lines.append(f"    {v} = d.get({name!r}, _d_{name})")
        else:
            lines.append(f"    {v} = d.get({name!r}, _M)")
            if f.default_factory is not dataclasses.MISSING:
                namespace[f"_f_{name}"] = f.default_factory
                lines.append(f"    if {v} is _M:\n        {v} = _f_{name}()")
        kind = _type_name(f.type)
        if kind == "float":
            checks.append(f"(type({v}) is not float and type({v}) is not int)")
        else:
            checks.append(f"type({v}) is not {_EXACT[kind]}")
    lines += [
        "    if " + " or ".join(checks) + ":",
        "        return None",
        "    return _cls(" + ", ".join(f"v_{n}" for n in spec.names) + ")",
    ]
    exec(compile("\n".join(lines) + "\n", f"<hotlap decoder {spec.cls.kind}>", "exec"), namespace)
    build: Callable[[dict[str, Any]], Event | None] = namespace["build"]
    return build


#: Compiled on first use, like the encoders.
_BUILDERS: dict[str, Callable[[dict[str, Any]], Event | None]] = {}


def from_dict(data: Any) -> Event:
    """Build an event from a decoded JSON object, checking version, kind and field types."""
    if not isinstance(data, dict):
        raise ProtocolError("an event must be a JSON object")
    version = data.get("v")
    if version != PROTOCOL_VERSION:
        raise ProtocolError(f"protocol version {version!r}, expected {PROTOCOL_VERSION}")
    kind = data.get("kind")
    spec = _SPECS.get(kind) if isinstance(kind, str) else None
    if spec is None:
        raise ProtocolError(f"unknown event kind {kind!r}")
    build = _BUILDERS.get(spec.cls.kind)
    if build is None:
        build = _BUILDERS[spec.cls.kind] = _compile_builder(spec)
    event = build(data)
    return event if event is not None else _checked(spec, data)


def _checked(spec: _Spec, data: dict[str, Any]) -> Event:
    """The generic path: every check in turn, and the first problem named."""
    kind = spec.cls.kind
    kwargs = {k: v for k, v in data.items() if k not in ("kind", "v")}
    missing = spec.required - kwargs.keys()
    if missing:
        raise ProtocolError(f"{kind}: missing fields {sorted(missing)}")
    for name, value in kwargs.items():
        check = spec.checks.get(name)
        if check is None:
            raise ProtocolError(f"{kind}: unknown field {name!r}")
        if not check(value):
            raise ProtocolError(f"{kind}: field {name!r} has the wrong type")
    return spec.cls(**kwargs)


def decode(line: bytes | str) -> Event:
    """Decode one JSON line into an event, or raise :class:`ProtocolError`."""
    try:
        data = _json_loads(line)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"not JSON: {exc}") from None
    return from_dict(data)


def encode_hello(token: str, worker: str, pid: int) -> bytes:
    """The first line a sender writes on a new connection."""
    hello = {"kind": "hello", "v": PROTOCOL_VERSION, "token": token, "worker": worker, "pid": pid}
    return _json_dumps(hello, separators=(",", ":")).encode("utf-8") + b"\n"


def decode_hello(line: bytes, token: str) -> tuple[str, int]:
    """Check a hello line against the run's token; return the sender's (worker, pid)."""
    try:
        data = _json_loads(line)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"hello is not JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("kind") != "hello":
        raise ProtocolError("the first line of a connection must be a hello")
    if data.get("v") != PROTOCOL_VERSION:
        raise ProtocolError(f"protocol version {data.get('v')!r}, expected {PROTOCOL_VERSION}")
    if data.get("token") != token:
        raise ProtocolError("wrong token")
    worker, pid = data.get("worker"), data.get("pid")
    if not isinstance(worker, str) or not isinstance(pid, int):
        raise ProtocolError("hello needs a worker name and a pid")
    return worker, pid
