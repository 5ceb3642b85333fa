"""The slow end: sleeps, a CPU-heavy and a memory-heavy test, all on the session database."""

from __future__ import annotations

import hashlib
import time

import pytest


@pytest.mark.slow
def test_report_generation(database: object) -> None:
    time.sleep(2.0)


@pytest.mark.slow
def test_nightly_sync(database: object) -> None:
    time.sleep(1.5)


@pytest.mark.parametrize(("size", "seconds"), [("small", 0.3), ("medium", 0.6), ("large", 1.0)])
def test_search_index(database: object, size: str, seconds: float) -> None:
    time.sleep(seconds)
    assert size


@pytest.mark.slow
def test_cpu_heavy_checksum() -> None:
    """A fixed amount of hashing, ~1.5 CPU-seconds: its lane's CPU goes to 100 %."""
    digest = b"hotlap"
    for _ in range(3_000_000):
        digest = hashlib.sha256(digest).digest()
    assert len(digest) == 32


def test_memory_heavy_import() -> None:
    """Holds ~200 MB for ~0.7 s (long enough for a 2 Hz sampler to see), then frees it."""
    block = b"\xab" * (200 * 1024 * 1024)  # filled, so the pages are really resident
    time.sleep(0.7)
    assert block[-1] == 0xAB
    del block
