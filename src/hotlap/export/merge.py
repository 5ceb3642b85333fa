"""Merging CI shards: pytest-split ``.test_durations`` files, hotlap JSON reports, or event
records (``--record``, see :mod:`hotlap.export.record_merge`).

pytest-split can split a suite but not put the shards' durations back together; this does,
and refuses inputs that do not belong together: a test in two shards (the same shard merged
twice, or overlapping splits) and reports from different hotlap report versions or different
tool versions, unless told to allow them. A shard that merged its durations into the file it
started from (``--durations-file`` over a restored ``.test_durations``) holds every test; with
that file as ``base``, only the seconds a shard measured again count as its own.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hotlap.export.durations import is_durations
from hotlap.export.record_merge import unshard_deselected
from hotlap.export.report import REPORT_VERSION


class MergeError(Exception):
    """Inputs that cannot be merged; the message is one line for the user."""


def _is_record(text: str) -> bool:
    """Whether ``text`` is an event record: JSON lines, the first an event with its kind."""
    line = next((ln for ln in text.splitlines() if ln.strip()), "")
    try:
        first = json.loads(line)
    except ValueError:
        return False
    return isinstance(first, dict) and isinstance(first.get("kind"), str)


def load_input(path: str | Path) -> tuple[str, Any]:
    """(kind, data) of one input: kind is ``durations``, ``report`` or ``record`` (a list of
    events)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise MergeError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise MergeError(f"{path} is not JSON ({exc})") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        if _is_record(text):
            from hotlap.export.record import read_record

            return "record", list(read_record(path))
        raise MergeError(f"{path} is not JSON ({exc})") from None
    if _is_record(text) and isinstance(data, dict) and "report_version" not in data:
        from hotlap.export.record import read_record

        return "record", list(read_record(path))  # a record of a single event
    if isinstance(data, dict) and "report_version" in data:
        if data["report_version"] != REPORT_VERSION:
            raise MergeError(
                f"{path} is a version {data['report_version']} report; this hotlap merges"
                f" version {REPORT_VERSION}"
            )
        return "report", data
    if is_durations(data):
        return "durations", data
    raise MergeError(f"{path} is neither a .test_durations file nor a hotlap JSON report")


def merge_durations(
    inputs: Sequence[tuple[str, dict[str, float]]],
    *,
    allow_duplicates: bool = False,
    base: dict[str, float] | None = None,
) -> tuple[dict[str, float], list[str]]:
    """Union of ``(name, durations)`` inputs; duplicates are an error unless allowed (mean).

    With ``base`` (the durations the shards started from), a test's seconds equal to the
    base's are that base copied, not a measurement: the result is the base with every
    measured test's new seconds, and only two measurements of one test are duplicates.
    """
    seen: dict[str, list[float]] = {}
    where: dict[str, str] = {}
    warnings = []
    for name, durations in inputs:
        for nodeid, seconds in durations.items():
            if base is not None and base.get(nodeid) == seconds:
                continue  # copied from the base, not measured by this shard
            if nodeid in seen:
                if not allow_duplicates:
                    raise MergeError(
                        f"{nodeid} is in both {where[nodeid]} and {name}"
                        " (use --allow-duplicates to average)"
                    )
            else:
                where[nodeid] = name
            seen.setdefault(nodeid, []).append(float(seconds))
    dupes = sum(1 for v in seen.values() if len(v) > 1)
    if dupes:
        warnings.append(f"{dupes} tests were in more than one input; their durations averaged")
    merged = dict(base or {})
    merged.update({n: round(sum(v) / len(v), 6) for n, v in seen.items()})
    return dict(sorted(merged.items())), warnings


def _exit_code(codes: list[int | None]) -> int | None:
    known = [c for c in codes if c is not None]
    if not known:
        return None
    worst = [c for c in known if c not in (0, 1, 5)]
    if worst:
        return max(worst)
    if 1 in known:
        return 1
    return 5 if all(c == 5 for c in known) else 0


def merge_reports(
    inputs: Sequence[tuple[str, dict[str, Any]]],
    *,
    allow_duplicates: bool = False,
    allow_mismatch: bool = False,
) -> tuple[dict[str, Any], list[str]]:
    """One report for the whole suite from the shards' reports.

    Worker ids are prefixed with the shard number when shards reuse them (``s1/gw0``), test
    start times and resource samples are moved onto the earliest shard's start, counts and
    pytest stats are summed, and the exit code is the worst one.
    """
    warnings: list[str] = []
    first_name, first = inputs[0]
    versions = first["run"]["versions"]
    for name, report in inputs[1:]:
        other = report["run"]["versions"]
        diff = [
            f"{k} {versions.get(k)} vs {other.get(k)}"
            for k in versions
            if versions.get(k) != other.get(k)
        ]
        if diff:
            msg = f"{first_name} and {name} differ: {', '.join(diff)}"
            if not allow_mismatch:
                raise MergeError(msg + " (use --allow-mismatch to merge anyway)")
            warnings.append(msg)
    start = min(float(r["run"]["start"]) for _, r in inputs)
    end = max(float(r["run"]["start"]) + float(r["run"]["wall_time"]) for _, r in inputs)
    ids = [wid for _, r in inputs for wid in r["run"]["worker_ids"]]
    rename = len(ids) != len(set(ids))
    tests: list[dict[str, Any]] = []
    where: dict[str, str] = {}
    fixtures: list[dict[str, Any]] = []
    resources: list[dict[str, Any]] = []
    crashes: list[dict[str, Any]] = []
    collect_errors: dict[str, dict[str, Any]] = {}
    counts: dict[str, int] = {}
    stats: dict[str, int] = {}
    worker_ids: list[str] = []
    for shard, (name, report) in enumerate(inputs, 1):
        run = report["run"]
        shift = float(run["start"]) - start

        def wid(worker: str, shard: int = shard) -> str:
            return f"s{shard}/{worker}" if rename and worker else worker

        worker_ids.extend(wid(w) for w in run["worker_ids"])
        for test in report["tests"]:
            nodeid = test["nodeid"]
            if nodeid in where:
                if not allow_duplicates:
                    raise MergeError(
                        f"{nodeid} is in both {where[nodeid]} and {name}"
                        " (use --allow-duplicates to keep the later one)"
                    )
                tests = [t for t in tests if t["nodeid"] != nodeid]
            where[nodeid] = name
            moved = dict(test, worker=wid(test["worker"]))
            if moved.get("start") is not None:
                moved["start"] = moved["start"] + shift
            tests.append(moved)
        for fixture in report["fixtures"]:
            uses = [dict(u, worker=wid(u["worker"])) for u in fixture["uses"]]
            fixtures.append(dict(fixture, uses=uses))
        resources.extend(dict(p, t=p["t"] + shift) for p in report["resources"])
        crashes.extend(dict(c, worker=wid(c["worker"])) for c in report["crashes"])
        for err in report["collect_errors"]:
            collect_errors.setdefault(err["nodeid"], err)
        for key, n in run["counts"].items():
            counts[key] = counts.get(key, 0) + int(n)
        for key, n in run["pytest_stats"].items():
            stats[key] = stats.get(key, 0) + int(n)
    # Each shard deselects the tests the other shards run (pytest-split): those are not
    # deselected from the merged run. k shards of a suite of N deselect (k - 1) * N in all,
    # plus k times what -k/-m deselected.
    for totals in (counts, stats):
        if "deselected" in totals:
            left = unshard_deselected(totals.pop("deselected"), len(inputs), len(tests))
            if left > 0:
                totals["deselected"] = left
    dupes = len([1 for _, r in inputs for _ in r["tests"]]) - len(tests)
    if dupes:
        warnings.append(f"{dupes} tests were in more than one report; the later kept")
    merged_run = dict(
        first["run"],
        argv=list(first["run"]["argv"]),
        workers=sum(int(r["run"]["workers"]) for _, r in inputs),
        worker_ids=sorted(worker_ids),
        effective_cores=max(float(r["run"]["effective_cores"]) for _, r in inputs),
        start=start,
        wall_time=end - start,
        exit_code=_exit_code([r["run"]["exit_code"] for _, r in inputs]),
        cancelled=any(r["run"]["cancelled"] for _, r in inputs),
        collected=sum(int(r["run"]["collected"]) for _, r in inputs),
        counts=counts,
        pytest_stats=stats,
        malformed_events=sum(int(r["run"]["malformed_events"]) for _, r in inputs),
        shards=len(inputs),
    )
    merged = {
        "report_version": REPORT_VERSION,
        "run": merged_run,
        "collect_errors": list(collect_errors.values()),
        "crashes": crashes,
        "tests": tests,
        "fixtures": fixtures,
        "resources": sorted(resources, key=lambda p: p["t"]),
    }
    histories = [r["history"] for _, r in inputs if isinstance(r.get("history"), dict)]
    if histories:
        # Each shard compared its own tests with its own history: their findings add up.
        merged["history"] = {
            key: [item for h in histories for item in h.get(key, [])]
            for key in ("regressions", "flaky")
        }
    return merged, warnings


def merge_files(
    paths: Sequence[str | Path],
    *,
    allow_duplicates: bool = False,
    allow_mismatch: bool = False,
    base: str | Path | None = None,
) -> tuple[str, Any, list[str]]:
    """(kind, merged data, warnings) of the files at ``paths``; all must be of one kind.
    ``base``: the durations file the shards started from (durations only)."""
    if not paths:
        raise MergeError("nothing to merge: give at least one input")
    loaded = [(str(p), *load_input(p)) for p in paths]
    kinds = {kind for _, kind, _ in loaded}
    if len(kinds) > 1:
        raise MergeError(
            f"inputs mix {' and '.join(sorted(kinds))} files; merge one kind at a time"
        )
    kind = kinds.pop()
    if base is not None and kind != "durations":
        raise MergeError("--base is for .test_durations files only")
    if kind == "durations":
        base_durations = None
        if base is not None:
            base_kind, base_durations = load_input(base)
            if base_kind != "durations":
                raise MergeError(f"{base} (--base) is not a .test_durations file")
        durations, warnings = merge_durations(
            [(name, data) for name, _, data in loaded],
            allow_duplicates=allow_duplicates,
            base=base_durations,
        )
        return kind, durations, warnings
    if kind == "record":
        from hotlap.export.record_merge import RecordMergeError, merge_records

        try:
            events, warnings = merge_records(
                [(name, data) for name, _, data in loaded], allow_duplicates=allow_duplicates
            )
        except RecordMergeError as exc:
            raise MergeError(str(exc)) from None
        return kind, events, warnings
    report, warnings = merge_reports(
        [(name, data) for name, _, data in loaded],
        allow_duplicates=allow_duplicates,
        allow_mismatch=allow_mismatch,
    )
    return kind, report, warnings
