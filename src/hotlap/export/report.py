"""hotlap's versioned JSON report of one run (``--json``, ``--hotlap-json``).

The schema is ``hotlap/export/report_schema.json`` (JSON Schema draft 2020-12) and is
documented in ``docs/report.md``. ``REPORT_VERSION`` changes only on incompatible changes;
new optional keys may appear in any release.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from hotlap import __version__, jsonref
from hotlap.model.run_state import RunState

REPORT_VERSION = 1
SCHEMA_PATH = Path(__file__).with_name("report_schema.json")


@dataclass
class RunMeta:
    """What the app knows about a run beyond its events."""

    argv: list[str] = field(default_factory=list)
    exit_code: int | None = None
    workers: int = 0
    effective_cores: float = 0.0
    start: float = 0.0  # wall-clock seconds since the epoch
    wall_time: float = 0.0
    cancelled: bool = False
    malformed_events: int = 0

    @classmethod
    def from_state(cls, state: RunState, argv: list[str] | None = None) -> RunMeta:
        """Metadata read off the state alone (for exports written inside pytest)."""
        from hotlap.resources.cores import effective_cores

        s = state.session
        end = s.finished if s.finished is not None else state.last_t
        start = s.start or (state.first_t or 0.0)
        return cls(
            argv=list(argv if argv is not None else s.argv),
            exit_code=s.exitstatus,
            workers=len(state.workers),
            effective_cores=effective_cores(),
            start=s.wall,
            wall_time=max(0.0, end - start),
        )


def _versions(state: RunState) -> dict[str, str]:
    s = state.session
    pytest_version, xdist_version = s.pytest_version, s.xdist_version
    if not pytest_version:
        try:
            import pytest

            pytest_version = pytest.__version__
        except ImportError:  # pragma: no cover - pytest is a dependency
            pytest_version = ""
    return {
        "hotlap": __version__,
        "pytest": pytest_version,
        "xdist": xdist_version,
        "python": s.python_version or ".".join(map(str, sys.version_info[:3])),
    }


def run_section(state: RunState, meta: RunMeta) -> dict[str, Any]:
    """The report's ``run`` object: the run's metadata, versions and counts."""
    return {
        "versions": _versions(state),
        "argv": list(meta.argv),
        "rootdir": state.session.rootdir,
        "workers": meta.workers or len(state.workers),
        "worker_ids": sorted(state.workers),
        "effective_cores": meta.effective_cores,
        "start": meta.start or state.session.wall,
        "wall_time": meta.wall_time,
        "exit_code": meta.exit_code,
        "cancelled": meta.cancelled,
        "collected": len(state.collected),
        "counts": state.summary_counts(),
        "pytest_stats": dict(state.session.pytest_stats),
        "malformed_events": meta.malformed_events,
    }


def build_report(
    state: RunState, meta: RunMeta, *, history: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The report as a JSON-ready dict.

    ``history`` (``{"regressions": [...], "flaky": [...]}``, from
    :mod:`hotlap.history`) is added when the run was compared with earlier ones.
    """
    start_t = state.session.start or (state.first_t or 0.0)
    tests = []
    for rec in state.tests.values():
        tests.append(
            {
                "nodeid": rec.nodeid,
                "outcome": rec.outcome or ("running" if rec.started is not None else "queued"),
                "categories": list(rec.categories),
                "worker": rec.worker,
                "path": rec.path,
                "line": rec.line,
                "setup": rec.setup,
                "call": rec.call,
                "teardown": rec.teardown,
                "duration": rec.duration,
                "start": (rec.started - start_t) if rec.started is not None else None,
                "cpu": rec.cpu,
                "rss_before": rec.rss_before,
                "rss_after": rec.rss_after,
                "rss_peak": rec.rss_peak,
                "stdout": rec.stdout,
                "stderr": rec.stderr,
                "log": rec.log,
                "longrepr": rec.longrepr,
                "crash_path": rec.crash_path,
                "crash_line": rec.crash_line,
                "message": rec.message,
                "crashed": rec.crashed,
                "wasxfail": rec.wasxfail,
                "reruns": rec.categories.count("rerun"),
                "hang_stack": rec.hang_stack,
            }
        )
    fixtures = []
    for cost in state.fixtures.values():
        saving = cost.wider_scope_saving()
        fixtures.append(
            {
                "name": cost.name,
                "scope": cost.scope,
                "location": cost.location,
                "setup": cost.setup_total,
                "teardown": cost.teardown_total,
                "count": cost.count,
                "failed": cost.failed,
                "suggest_scope": saving[0] if saving else None,
                "saving": saving[1] if saving else 0.0,
                "uses": [
                    {
                        "worker": use.worker,
                        "nodeid": use.nodeid,
                        "setup": use.setup,
                        "teardown": use.teardown,
                        "teardown_nodeid": use.teardown_nodeid,
                    }
                    for use in cost.uses
                ],
            }
        )
    report: dict[str, Any] = {
        "report_version": REPORT_VERSION,
        "run": run_section(state, meta),
        "collect_errors": [
            {"nodeid": nodeid, "longrepr": text} for nodeid, text in state.collect_errors.items()
        ],
        "crashes": [
            {"worker": c.crashed_worker, "nodeid": c.nodeid, "reason": c.reason}
            for c in state.crashes
        ],
        "tests": tests,
        "fixtures": fixtures,
        "resources": [
            {
                "t": p.t - start_t,
                "cpu_percent": p.total_cpu,
                "rss": p.total_rss,
                "mem_available": p.mem_available,
            }
            for p in state.resources
        ],
    }
    if history is not None:
        report["history"] = history
    return report


def dumps_report(report: dict[str, Any], compact: bool = False) -> str:
    """The report's text, ASCII whatever the tests printed (non-ASCII text as ``\\u``
    escapes). msgspec encodes it (2,000 tests: a few ms, where json's indenting encoder took
    ~0.2 s); a report holding non-ASCII text goes through json's ``ensure_ascii``."""
    try:
        data: bytes | None = msgspec.json.encode(report)
    except (UnicodeEncodeError, TypeError, OverflowError):
        data = None
    if data is None or not data.isascii():
        if compact:
            return jsonref.dumps(report, ensure_ascii=True, separators=(",", ":")) + "\n"
        return jsonref.dumps(report, indent=2, ensure_ascii=True) + "\n"
    if not compact:
        data = msgspec.json.format(data, indent=2)
    return data.decode("ascii") + "\n"


def write_report(path: str | Path, report: dict[str, Any], compact: bool = False) -> None:
    from hotlap.export.files import atomic_write

    atomic_write(path, dumps_report(report, compact))


def load_schema() -> dict[str, Any]:
    """The report's JSON Schema."""
    schema: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return schema
