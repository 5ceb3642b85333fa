"""What decoding costs per event on a real recorded stream.

    .venv/bin/python bench/decode_cost.py [RECORD.jsonl]

Without a record, records one: a generated suite of 2,000 tests (1 in 10 with a function
fixture, 1 in 100 failing) run by ``pytest -p hotlap --hotlap-record -n 2``, the lines the
workers sent. Then times the app's decoder on those bytes (CPU time, best of 5): the
server's way, :func:`~hotlap.protocol.codec.decode_lines` on chunks of about one worker
batch, and one :func:`~hotlap.protocol.codec.decode` per line (the fallback).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hotlap.protocol.codec import decode, decode_lines

SUITE = """
import pytest

@pytest.fixture
def db():
    yield 1

{tests}
"""


def record_real_stream(directory: Path, tests: int = 2000) -> Path:
    """Run a generated suite under pytest with the hotlap plugin; return its record."""
    bodies = []
    for i in range(tests):
        args = "db" if i % 10 == 0 else ""
        body = "assert 41 == 42" if i % 100 == 37 else "pass"
        bodies.append(f"def test_case_{i}({args}):\n    {body}\n")
    per_file = 100
    for f in range(0, tests, per_file):
        text = SUITE.format(tests="\n".join(bodies[f : f + per_file]))
        (directory / f"test_mod{f // per_file:03d}.py").write_text(text)
    record = directory / "record.jsonl"
    cmd = [sys.executable, "-m", "pytest", "-p", "hotlap", f"--hotlap-record={record}"]
    cmd += ["-n", "2", "-q", "-p", "no:cacheprovider", "-p", "no:randomly"]
    subprocess.run(
        cmd, cwd=directory, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False
    )
    return record


def chunks(data: bytes, size: int) -> list[bytes]:
    """``data`` cut at line ends into pieces of about ``size`` bytes (a socket read each)."""
    out, start = [], 0
    while start < len(data):
        end = data.find(b"\n", start + size)
        end = len(data) if end < 0 else end + 1
        out.append(data[start:end])
        start = end
    return out


def best_cpu(fn: object, rounds: int = 5) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        fn()  # type: ignore[operator]
        best = min(best, time.process_time() - started)
    return best


def decode_cost(data: bytes, chunk: int = 8192) -> tuple[int, float, float]:
    """(events, us per event with decode_lines on ~``chunk``-byte reads, us per event with
    one decode per line)."""
    pieces = chunks(data, chunk)
    lines = [line for line in data.split(b"\n") if line.strip()]
    events = sum(len(decode_lines(p)[0]) for p in pieces)

    def batched() -> None:
        for p in pieces:
            decode_lines(p)

    def single() -> None:
        for line in lines:
            decode(line)

    return events, best_cpu(batched) / events * 1e6, best_cpu(single) / len(lines) * 1e6


def describe(record: Path) -> str:
    data = record.read_bytes()
    events, batched, single = decode_cost(data)
    return (
        f"decode on a real recorded stream ({record.name}: {events:,} events, {len(data):,}"
        f" bytes): {batched:.2f} us per event with decode_lines on ~8 KB reads,"
        f" {single:.2f} us one line at a time (CPU, best of 5)"
    )


def main(argv: list[str]) -> int:
    if argv:
        print(describe(Path(argv[0])))
        return 0
    with tempfile.TemporaryDirectory(prefix="hotlap-decode-") as tmp:
        print(describe(record_real_stream(Path(tmp))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
