"""How long earlier runs of the same arguments took with each ``-n``, for hotlap's choice of
workers (``hotlap.plugin.workers``).

Kept in ``.hotlap/workers.json``: for each of the last :data:`KEEP_KEYS` argument lists, the
wall seconds of the last :data:`KEEP_WALLS` runs per ``-n``, how many runs ago each ``-n``
was last timed, and the last run's test count and test seconds. The key is the literal
arguments (and ``PYTEST_ADDOPTS``): the same command selects the same tests, which no
estimate made before collection can tell as well (``-m``, a conftest that deselects). When
the number of tests moves by more than :data:`RESET` the suite changed under the key and its
timings start again.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hotlap.export.files import atomic_write

FILE = "workers.json"
VERSION = 1
KEEP_KEYS = 32
KEEP_WALLS = 3
#: A key longer than this (a watch cycle's or ``--affected`` run's node ids) is not kept.
MAX_KEY = 2000
#: A relative change of the test count that makes earlier timings of a key stale.
RESET = 0.2


def selection_key(pytest_args: Sequence[str], environ: Mapping[str, str]) -> str | None:
    """The key of a run's arguments, or None for one not worth remembering."""
    key = "\0".join([*pytest_args, "PYTEST_ADDOPTS=" + environ.get("PYTEST_ADDOPTS", "")])
    return key if len(key) <= MAX_KEY else None


def _load(directory: Path) -> dict[str, Any]:
    try:
        data = json.loads((directory / FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("version") != VERSION:
        return {}
    keys = data.get("keys")
    return keys if isinstance(keys, dict) else {}


def seen_for(directory: Path, key: str | None) -> str | None:
    """What :data:`hotlap.channel.ENV_WORKERS_SEEN` carries for ``key``, or None."""
    if key is None:
        return None
    entry = _load(directory).get(key)
    if not isinstance(entry, dict):
        return None
    fields = ("walls", "age", "tests", "seconds")
    return json.dumps({k: entry[k] for k in fields if k in entry}, separators=(",", ":"))


def record(
    directory: Path, key: str | None, workers: int, wall: float, tests: int, seconds: float
) -> None:
    """Add a run of ``key`` with ``workers`` (0: no xdist) that took ``wall`` seconds."""
    if key is None or tests <= 0 or wall <= 0:
        return
    keys = _load(directory)
    entry = keys.pop(key, None)
    if not isinstance(entry, dict) or not isinstance(entry.get("walls"), dict):
        entry = {"walls": {}}
    before = int(entry.get("tests", 0) or 0)
    if before and abs(tests - before) > RESET * before:
        entry["walls"], entry["age"] = {}, {}
    n = str(workers)
    walls = entry["walls"].get(n, [])
    entry["walls"][n] = [*walls, round(wall, 3)][-KEEP_WALLS:]
    age = entry.get("age")
    age = age if isinstance(age, dict) else {}
    entry["age"] = {k: 0 if k == n else int(age.get(k, 0)) + 1 for k in entry["walls"]}
    entry.update(tests=tests, seconds=round(seconds, 3))
    keys[key] = entry  # last: the file keeps the keys in the order they were last used
    payload = {"version": VERSION, "keys": dict(list(keys.items())[-KEEP_KEYS:])}
    with contextlib.suppress(OSError):  # only a better choice next time is lost
        atomic_write(directory / FILE, json.dumps(payload))
