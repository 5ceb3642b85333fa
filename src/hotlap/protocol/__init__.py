"""The versioned event protocol between the pytest plugin and the app. No pytest, no Textual."""

from __future__ import annotations

from hotlap.protocol.codec import ProtocolError, decode, decode_hello, encode, encode_hello
from hotlap.protocol.events import (
    EVENT_TYPES,
    PROTOCOL_VERSION,
    AssertDiff,
    CollectError,
    CollectionFinish,
    CollectSkip,
    Event,
    FixtureSetup,
    FixtureTeardown,
    HangStack,
    ResourceSample,
    SessionFinish,
    SessionStart,
    TestDone,
    TestReport,
    TestStart,
    WorkerCrash,
    WorkerStart,
)

__all__ = [
    "EVENT_TYPES",
    "PROTOCOL_VERSION",
    "AssertDiff",
    "CollectError",
    "CollectSkip",
    "CollectionFinish",
    "Event",
    "FixtureSetup",
    "FixtureTeardown",
    "HangStack",
    "ProtocolError",
    "ResourceSample",
    "SessionFinish",
    "SessionStart",
    "TestDone",
    "TestReport",
    "TestStart",
    "WorkerCrash",
    "WorkerStart",
    "decode",
    "decode_hello",
    "encode",
    "encode_hello",
]
