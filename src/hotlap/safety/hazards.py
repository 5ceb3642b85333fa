"""Hazards seen in the last runs (``.hotlap/safety.json``) and what ``hotlap safety`` says.

A hazard is one thing a test left changed in its process (:class:`hotlap.protocol.Hazard`):
an environment variable, the working directory, a ``sys.path`` entry. Tests that leave the
same variable or entry changed share it: those are named together.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from hotlap.protocol import Hazard

FILE_NAME = "safety.json"
FILE_VERSION = 1
#: Runs kept in the file.
KEEP_RUNS = 10


def to_json(hazard: Hazard) -> dict[str, str]:
    return {
        "nodeid": hazard.nodeid,
        "worker": hazard.worker,
        "hazard": hazard.hazard,
        "name": hazard.name,
        "before": hazard.before,
        "after": hazard.after,
    }


def read_runs(path: Path) -> list[dict[str, Any]]:
    """The runs kept at ``path`` (none when it is missing, unreadable or another version)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    if not isinstance(data, dict) or data.get("version") != FILE_VERSION:
        return []
    runs = data.get("runs")
    return [r for r in runs if isinstance(r, dict)] if isinstance(runs, list) else []


def record_run(path: Path, hazards: Sequence[Hazard], *, started: float | None = None) -> None:
    """Add one run's hazards to ``path`` (the last :data:`KEEP_RUNS` runs are kept)."""
    runs = read_runs(path)
    runs.append({"start": started or time.time(), "hazards": [to_json(h) for h in hazards]})
    data = {"version": FILE_VERSION, "runs": runs[-KEEP_RUNS:]}
    part = path.with_name(f"{path.name}.{os.getpid()}")
    part.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    os.replace(part, path)


def by_test(runs: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Each test's distinct hazards over ``runs`` (latest run's first), with ``shared_with``:
    the other tests that left the same thing changed."""
    seen: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}
    owners: dict[tuple[str, str], set[str]] = {}
    for run in reversed(list(runs)):
        for h in run.get("hazards", []):
            key = (str(h.get("hazard", "")), str(h.get("name", "")))
            nodeid = str(h.get("nodeid", ""))
            owners.setdefault(key, set()).add(nodeid)
            seen.setdefault(nodeid, {}).setdefault(key, dict(h))
    result: dict[str, list[dict[str, Any]]] = {}
    for nodeid in sorted(seen):
        entries = []
        for key, h in seen[nodeid].items():
            others = sorted(owners[key] - {nodeid}) if key[0] != "cwd" else []
            entries.append({**h, "shared_with": others})
        result[nodeid] = entries
    return result


def describe(h: dict[str, Any]) -> str:
    """One hazard in words."""
    kind, name, before, after = h["hazard"], h["name"], h["before"], h["after"]
    if kind == "env":
        text = {"set": "sets", "unset": "removes", "changed": "changes"}.get(after, after)
        words = f"{text} environment variable {name} and leaves it so"
    elif kind == "cwd":
        words = f"changes the working directory ({before} -> {after}) and leaves it"
    else:
        words = f"{'adds' if after == 'present' else 'removes'} {name!r} in sys.path and leaves it"
    if h.get("shared_with"):
        words += f" (also: {', '.join(h['shared_with'])})"
    return words
