"""Hazards seen in the last runs (``.hotlap/safety.json``) and what ``hotlap safety`` says.

A hazard is one thing a test left changed in its process (:class:`hotlap.protocol.Hazard`):
an environment variable, the working directory, a ``sys.path`` entry; or touched outside its
temporary directories: a file written, removed or read, a fixed port bound. Tests that leave
the same variable or entry changed, write the same file or bind the same port share it:
those are named together (and a test that reads a file another writes).
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
    # No indent: json's C encoder writes it (with an indent its Python one did, a tenth of a
    # second of every run's end for a few hundred kept hazards).
    part.write_text(json.dumps(data) + "\n", encoding="utf-8")
    os.replace(part, path)


def _role(h: dict[str, Any]) -> str:
    """``read`` for a file a test read, else ``changed`` (wrote, removed, set, bound)."""
    return "read" if h.get("hazard") == "file" and h.get("after") == "read" else "changed"


def linked(hazards: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``hazards`` without the file reads no other test wrote (a read alone is no hazard)."""
    writers: dict[str, set[str]] = {}
    for h in hazards:
        if h.get("hazard") == "file" and _role(h) == "changed":
            writers.setdefault(str(h.get("name")), set()).add(str(h.get("nodeid")))
    return [
        h
        for h in hazards
        if _role(h) == "changed" or writers.get(str(h.get("name")), set()) - {h.get("nodeid")}
    ]


def by_test(runs: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Each test's distinct hazards over ``runs`` (latest run's first), with ``shared_with``:
    the other tests that left the same thing changed (wrote the same file, bound the same
    port), and for files ``read_by``: the other tests that read it. A file a test only read
    is listed when another test wrote it."""
    seen: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}
    owners: dict[tuple[str, str, str], set[str]] = {}
    for run in reversed(list(runs)):
        for h in run.get("hazards", []):
            key = (str(h.get("hazard", "")), str(h.get("name", "")))
            nodeid = str(h.get("nodeid", ""))
            owners.setdefault((*key, _role(h)), set()).add(nodeid)
            mine = seen.setdefault(nodeid, {})
            if key not in mine or (_role(mine[key]) == "read" and _role(h) == "changed"):
                mine[key] = dict(h)
    result: dict[str, list[dict[str, Any]]] = {}
    for nodeid in sorted(seen):
        entries = []
        for key, h in seen[nodeid].items():
            if key[0] == "cwd":
                entries.append({**h, "shared_with": []})
                continue
            changed = sorted(owners.get((*key, "changed"), set()) - {nodeid})
            if _role(h) == "read":
                if changed:
                    entries.append({**h, "shared_with": changed, "read_by": []})
                continue
            entry = {**h, "shared_with": changed}
            if key[0] == "file":
                readers = owners.get((*key, "read"), set()) - {nodeid}
                entry["read_by"] = sorted(readers - set(changed))
            entries.append(entry)
        if entries:
            result[nodeid] = entries
    return result


def conflicts(tests: dict[str, list[dict[str, Any]]]) -> list[str]:
    """The tests that share something with another (``by_test``): candidates for serial."""
    shared: set[str] = set()
    for nodeid, hazards in tests.items():
        for h in hazards:
            others = [*h.get("shared_with", []), *h.get("read_by", [])]
            if others:
                shared.update([nodeid, *others])
    return sorted(shared)


def _printable(text: str) -> str:
    """``text`` on one line: control characters escaped (a path may hold a newline)."""
    return text if text.isprintable() else text.encode("unicode_escape").decode("ascii")


def describe(h: dict[str, Any]) -> str:
    """One hazard in words."""
    kind, before, after = h["hazard"], _printable(h["before"]), _printable(h["after"])
    name = _printable(h["name"])
    if kind == "env":
        text = {"set": "sets", "unset": "removes", "changed": "changes"}.get(after, after)
        words = f"{text} environment variable {name} and leaves it so"
    elif kind == "cwd":
        words = f"changes the working directory ({before} -> {after}) and leaves it"
    elif kind == "file":
        text = {"written": "writes", "removed": "removes", "read": "reads"}.get(after, after)
        words = f"{text} {name} (outside its temporary directories)"
    elif kind == "port":
        words = f"binds fixed port {name}"
    else:
        words = f"{'adds' if after == 'present' else 'removes'} {name!r} in sys.path and leaves it"
    if h.get("shared_with"):
        verb = "written by" if kind == "file" and after == "read" else "also"
        words += f" ({verb}: {', '.join(h['shared_with'])})"
    if h.get("read_by"):
        words += f" (read by: {', '.join(h['read_by'])})"
    return words
