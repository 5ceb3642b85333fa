"""Record a real pytest run's event stream plus real psutil samples, for the UI's tests.

    .venv/bin/python bench/record_ui_stream.py SUITE_DIR OUT.jsonl -- -n 2

Runs pytest with ``--hotlap-record`` and, while it runs, samples the CPU and RSS of the
pytest process tree the way the app's sampler does. The samples become ``ResourceSample``
events (mapped to lanes through the recorded ``worker_start`` pids) merged into the record
in time order, so a replay shows lanes with real CPU/RSS sparklines.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psutil

from hotlap.export.record import read_record, write_record
from hotlap.protocol import Event, ResourceSample, WorkerStart
from hotlap.resources.cores import effective_cores


def main(argv: list[str]) -> int:
    suite, out, *rest = argv
    args = rest[1:] if rest[:1] == ["--"] else rest
    raw = Path(out).with_suffix(".raw.jsonl").resolve()
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", f"--hotlap-record={raw}"]
    proc = subprocess.Popen([*cmd, *args], cwd=suite, stdout=subprocess.DEVNULL)
    root = psutil.Process(proc.pid)
    known: dict[int, psutil.Process] = {}
    samples: list[tuple[float, list[tuple[int, float, int]], list[float]]] = []
    psutil.cpu_percent(percpu=True)
    while proc.poll() is None:
        time.sleep(0.25)
        try:
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            break
        rows = []
        for p in procs:
            cached = known.setdefault(p.pid, p)
            try:
                rows.append((p.pid, cached.cpu_percent(), cached.memory_info().rss))
            except psutil.Error:
                continue
        samples.append((time.monotonic(), rows, psutil.cpu_percent(percpu=True)))
    events: list[Event] = list(read_record(raw))
    lanes = {e.pid: e.worker for e in events if isinstance(e, WorkerStart)}
    mem = psutil.virtual_memory()
    cores = effective_cores()
    for t, rows, per_core in samples:
        events.append(
            ResourceSample(
                "app",
                os.getpid(),
                t,
                processes=[[pid, lanes.get(pid, ""), cpu, rss] for pid, cpu, rss in rows],
                total_cpu=sum(cpu for _, cpu, _ in rows),
                total_rss=sum(rss for _, _, rss in rows),
                per_core=per_core,
                mem_total=mem.total,
                mem_available=mem.available,
                effective_cores=cores,
            )
        )
    events.sort(key=lambda e: e.t)
    write_record(out, events)
    raw.unlink()
    print(f"{len(events)} events, {len(samples)} samples -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
