"""What hotlap costs on a suite of trivial tests, and how fast the app side decodes events.

Generates 2,000 trivial tests (20 files x 100) in a temporary directory and times, by wall
clock, alternating runs of

* ``plain``:  ``pytest -n 2``
* ``hotlap``: ``hotlap run --headless -- -n 2``
* ``plugin``: ``pytest -p hotlap --hotlap-json=… -n 2`` (no app: the plugin's own exports)
* ``plain2``: ``pytest -n 2`` again: its ratio to ``plain`` is the noise floor of the machine
  (two identical commands differ by that much), to read the other ratios against

rotating the order each round so neither drift nor warm caches favour one. It prints each
run, the medians and the median ratios to ``plain`` (goal: hotlap ≤ 1.03x), and the median
of the per-round ratios (each run against the ``plain`` run of its own round, which is less
exposed to the machine's drift between rounds).

Then it measures the app's side on a real recorded event stream of the same suite: events/s
through ``decode`` + ``RunState.apply``, and through a real ``EventServer`` socket fed by a
client thread.

    .venv/bin/python bench/overhead.py                 # 5 rounds, all three variants
    .venv/bin/python bench/overhead.py --rounds 3 --variants plain plugin
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from hotlap.model.run_state import RunState
from hotlap.protocol import decode, encode_hello
from hotlap.runner.server import EventServer

VARIANTS = ("plain", "hotlap", "plugin", "plain2")


def generate_suite(root: Path, files: int, tests: int) -> None:
    """``files`` modules of ``tests`` trivial tests each, with a pytest.ini to pin the rootdir."""
    (root / "pytest.ini").write_text("[pytest]\n")
    for f in range(files):
        body = ["from __future__ import annotations", ""]
        for t in range(tests):
            body += ["", f"def test_{t}() -> None:", f"    assert {t} == {t}", ""]
        (root / f"test_gen_{f:02d}.py").write_text("\n".join(body))


def hotlap_exe() -> list[str]:
    exe = Path(sys.executable).with_name("hotlap")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "hotlap"]


def commands(work: Path, hotlap_extra: list[str]) -> dict[str, list[str]]:
    py = sys.executable
    # -p no:cacheprovider everywhere: the last-failed cache is not what is being compared.
    common = ["-n", "2", "-q", "-p", "no:cacheprovider"]
    return {
        "plain": [py, "-m", "pytest", *common],
        "hotlap": [*hotlap_exe(), "run", "--headless", *hotlap_extra, "--", *common],
        "plugin": [py, "-m", "pytest", "-p", "hotlap", f"--hotlap-json={work / 'r.json'}", *common],
        "plain2": [py, "-m", "pytest", *common],
    }


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_run(argv: list[str], cwd: Path) -> tuple[float, float, int, str]:
    """(wall seconds, CPU seconds of the whole process tree, exit code, last line) of one run.

    CPU time is what the run cost whatever else the machine was doing; wall time is what the
    user waits. Both are reported because a shared machine makes wall time noisy.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOTLAP_", "PYTEST_"))}
    env.pop("CI", None)
    # Let the warm-up runs write bytecode caches, as any real install has them: without them
    # every hotlap process would recompile hotlap's modules and the ratio would measure that.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    cpu0, start = _children_cpu(), time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    wall, cpu = time.perf_counter() - start, _children_cpu() - cpu0
    tail = (proc.stdout.strip().splitlines() or [""])[-1]
    if proc.returncode != 0:
        print(proc.stdout[-2000:], proc.stderr[-2000:], sep="\n", file=sys.stderr)
    return wall, cpu, proc.returncode, tail


def bench_runs(suite: Path, work: Path, variants: list[str], rounds: int, extra: list[str]) -> None:
    cmds = commands(work, extra)
    print("commands (cwd = the generated suite):")
    for name in variants:
        print(f"  {name:7} {' '.join(cmds[name])}")
    for name in variants:  # warm-up: bytecode caches, page cache, hotlap's history file
        timed_run(cmds[name], suite)
    times: dict[str, list[float]] = {name: [] for name in variants}
    cpus: dict[str, list[float]] = {name: [] for name in variants}
    for r in range(rounds):
        order = variants[r % len(variants) :] + variants[: r % len(variants)]
        for name in order:
            wall, cpu, code, tail = timed_run(cmds[name], suite)
            times[name].append(wall)
            cpus[name].append(cpu)
            print(f"round {r + 1} {name:7} {wall:6.3f} s  cpu {cpu:6.3f} s  exit {code}  {tail}")
    print()
    base, base_cpu = statistics.median(times[variants[0]]), statistics.median(cpus[variants[0]])
    for name in variants:
        med, cpu = statistics.median(times[name]), statistics.median(cpus[name])
        print(
            f"median {name:7} wall {med:6.3f} s ({med / base:.3f}x {variants[0]})  "
            f"cpu {cpu:6.3f} s ({cpu / base_cpu:.3f}x)"
        )
    print()
    first = variants[0]
    for name in variants[1:]:
        walls = [t / b for t, b in zip(times[name], times[first], strict=True)]
        cpu_ratios = [c / b for c, b in zip(cpus[name], cpus[first], strict=True)]
        print(
            f"per-round {name:7} wall {statistics.median(walls):.3f}x {first} "
            f"(range {min(walls):.3f}-{max(walls):.3f})  "
            f"cpu {statistics.median(cpu_ratios):.3f}x (range {min(cpu_ratios):.3f}-"
            f"{max(cpu_ratios):.3f})"
        )


def record_events(suite: Path, work: Path) -> list[bytes]:
    """The JSON lines of a real ``-n 2`` run of the suite (``--hotlap-record``)."""
    path = work / "events.jsonl"
    subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "hotlap", f"--hotlap-record={path}", "-n", "2"],
        cwd=suite,
        capture_output=True,
        check=False,
    )
    return [line for line in path.read_bytes().splitlines() if line.strip()]


def best_of(n: int, fn: Callable[[], float]) -> float:
    return min(fn() for _ in range(n))


def bench_decode(lines: list[bytes]) -> None:
    """Events/s of the app's work per event, in CPU time (robust to a busy machine)."""
    clock = time.process_time  # only this thread runs here

    def decode_only() -> float:
        start = clock()
        for line in lines:
            decode(line)
        return clock() - start

    events = [decode(line) for line in lines]

    def apply_only() -> float:
        state = RunState()
        start = clock()
        for event in events:
            state.apply(event)
        return clock() - start

    def both() -> float:
        state = RunState()
        start = clock()
        for line in lines:
            state.apply(decode(line))
        return clock() - start

    n = len(lines)
    for name, fn in (("decode", decode_only), ("apply", apply_only), ("decode+apply", both)):
        print(f"{name:13} {n / best_of(5, fn):>10,.0f} events/s  ({n} events, CPU time, best of 5)")


def bench_socket(lines: list[bytes], senders: int) -> None:
    """Events/s from ``senders`` client threads through a real EventServer to RunState.

    Wall time from the first byte sent to the last event applied: what the app sustains.
    """
    payload = b"".join(line + b"\n" for line in lines)
    server = EventServer().start()
    expected = len(lines) * senders
    try:
        ready = threading.Barrier(senders + 1)

        def send(i: int) -> None:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.connect(server.path)
                sock.sendall(encode_hello(server.token, f"gw{i}", os.getpid()))
                ready.wait()
                sock.sendall(payload)

        threads = [threading.Thread(target=send, args=(i,)) for i in range(senders)]
        for thread in threads:
            thread.start()
        state = RunState()
        ready.wait()
        start = time.perf_counter()
        applied = 0
        deadline = time.monotonic() + 60
        while applied < expected and time.monotonic() < deadline:
            batch = server.drain()
            if not batch:
                time.sleep(0.001)
                continue
            for event in batch:
                state.apply(event)
            applied += len(batch)
        elapsed = time.perf_counter() - start
        for thread in threads:
            thread.join()
    finally:
        server.close()
    print(
        f"socket+apply  {applied / elapsed:>10,.0f} events/s  ({applied} events from {senders} "
        f"sender(s), {server.malformed} malformed)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--tests", type=int, default=100, help="tests per file")
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument(
        "--hotlap-arg",
        action="append",
        default=[],
        help="extra option for `hotlap run` (repeatable), e.g. --hotlap-arg=--no-impact",
    )
    parser.add_argument("--no-runs", action="store_true", help="only the events/s part")
    parser.add_argument("--no-events", action="store_true", help="only the run timings")
    parser.add_argument("--keep", action="store_true", help="keep the generated suite")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="hotlap-bench-"))
    suite = work / "suite"
    suite.mkdir()
    generate_suite(suite, args.files, args.tests)
    print(f"{args.files * args.tests} trivial tests in {suite}; {os.cpu_count()} CPUs")
    try:
        if not args.no_runs:
            bench_runs(suite, work, list(args.variants), args.rounds, args.hotlap_arg)
            print()
        if not args.no_events:
            lines = record_events(suite, work)
            bench_decode(lines)
            bench_socket(lines, senders=1)
            bench_socket(lines, senders=2)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
