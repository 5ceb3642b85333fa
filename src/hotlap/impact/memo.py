"""Rows a merge can keep as they are.

A run records what each test ran; merging turns that into the test's row (groups of items,
each item a checksummed part of a file). Run after run on an unchanged project, a test runs
the same code and gets the same row: resolving it again was most of what hotlap's app spent
after a warm run (jinja2: ~0.33 s of CPU for 909 tests, 6 % of the run's process tree).

So each row keeps the digest of what it was built from (the test's contexts as recorded:
code run, files opened, processes spawned, and the code its process ran without markers),
and the merge keeps a note of the project as it was: the (mtime, size) of every file it
analysed, the mtime of their directories and of the search roots (a file created there can
change what an import finds), and one digest of everything shared by all tests (collection
contexts, directory listings, pytest's configuration, the analysing code). A later merge
keeps a row whose test ran the same thing, only when all of that is unchanged; anything
else (an edit, a file the run wrote, a new module, an interrupted process) is resolved
again in full. A file changed during the run is left out of the note: the rows built from
it hold DIRTY items, keep no digest, and are built again by every merge.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from hotlap.impact.blocks import listing_digest
from hotlap.impact.digest import blake2b
from hotlap.impact.store import ImpactStore

#: meta key of the note (see the module's docstring).
MEMO = "merge_memo"
#: meta key: how many rows the last merge kept and built (for ``--why`` and the tests).
LAST = "last_merge"
_VERSION = 2  # 2: contexts digested by ContextDigester


def _digest(parts: Iterable[str]) -> str:
    h = blake2b(digest_size=16)
    for part in parts:
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\0")
    return h.hexdigest()


class ContextDigester:
    """What a context of one process ran, opened and spawned, as a digest independent of
    the process's code table; only files ``rel`` maps to a project path count, as they do
    for the merge. Each entry of the table is turned into text once, at the first context
    (a merge digests every context of every process, run after run: as a set of tuples
    built per context, entry by entry, it was most of what a merge that keeps every row
    cost)."""

    def __init__(self, table: list[list[Any]], rel: Callable[[str], str | None]) -> None:
        self._table = table
        self._rel = rel
        self._keys: list[str | None] | None = None  # built at the first context

    def _entry_keys(self) -> list[str | None]:
        rel = self._rel
        keys: list[str | None] = []
        for f, line, marked in self._table:
            name = str(f)
            if rel(name) is None:
                keys.append(None)  # not the project's: it does not count
            else:
                keys.append(f"{name}\0{int(line)}\0{int(bool(marked))}")
        return keys

    def __call__(self, ctx: Mapping[str, Any]) -> str:
        keys = self._keys
        if keys is None:
            keys = self._keys = self._entry_keys()
        codes = {key for i in ctx["codes"] if (key := keys[i]) is not None}
        rel = self._rel
        opened = (f for f in map(str, ctx.get("opened", ())) if rel(f) is not None)
        return _digest(
            (
                "\n".join(sorted(codes)),
                repr(sorted(opened)),
                repr([list(map(str, a)) for a in ctx.get("spawned", ())]),
            )
        )


def shared_digest(
    processes: list[dict[str, Any]],
    digesters: list[ContextDigester],
    fingerprint: Mapping[str, str],
    analysis: str,
    written: Iterable[str],
    rel: Callable[[str], str | None],
) -> str:
    """Everything every test's row depends on besides its own contexts and the files: the
    collection contexts (as far as project files go), pytest's configuration, the files
    the run wrote (``written``, project paths), the analysing code. ``digesters``: one per
    process, in order (the merge digests the tests' contexts with the same ones)."""
    parts: set[str] = set()
    for proc, context_digest in zip(processes, digesters, strict=True):
        for key, ctx in proc["contexts"].items():
            if not (key.startswith("m:") or key == "c:collect"):
                continue
            listed = sorted(d for d in map(str, ctx.get("listed", ())) if rel(d + "/_"))
            digest = context_digest(ctx)
            parts.add(repr((key, digest, [(d, listing_digest(d)) for d in listed])))
    roots = sorted({str(p) for proc in processes for p in proc.get("sys_path", [])})
    head = [
        str(_VERSION),
        analysis,
        str(processes[0]["root"]) if processes else "",
        repr(roots),
        repr(sorted(fingerprint.items())),
        repr(sorted(written)),
    ]
    return _digest([*head, *sorted(parts)])


def test_digest(nodeid: str, contexts: Iterable[str], unseen: str) -> str:
    """A test's digest from its contexts' (key, digest) strings and what its process ran
    without markers (``unseen``, that group's id)."""
    return _digest([nodeid, unseen, *sorted(contexts)])


def _stat(path: Path) -> tuple[int, int]:
    try:
        st = path.stat()
    except OSError:
        return (0, -1)
    if not os.path.isfile(path):
        return (0, -1)
    return (st.st_mtime_ns, st.st_size)


def _dir_mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return -1


def kept_digests(store: ImpactStore, root: Path, shared: str) -> dict[str, str] | None:
    """The rows' digests a merge may rely on, or None when the note does not hold (then
    every digest is dropped: a row keeps one only while the files it was built from are
    in the note as they were)."""
    note = store.get_meta(MEMO)
    valid = isinstance(note, dict) and note.get("shared") == shared
    files = note.get("files") if valid else None
    dirs = note.get("dirs") if valid else None
    if isinstance(files, dict) and isinstance(dirs, dict):
        same = all(list(_stat(root / rel)) == list(st) for rel, st in files.items()) and all(
            _dir_mtime(Path(d)) == mtime for d, mtime in dirs.items()
        )
        if same:
            return store.record_digests()
    store.forget_record_digests()
    return None


def keep_note(
    store: ImpactStore,
    root: Path,
    search_roots: Iterable[Path],
    shared: str,
    stats: Mapping[str, tuple[int, int]],
    carried: bool,
    since_ns: int,
    changed: set[str],
) -> None:
    """Write the note for the next merge. ``stats``: the files analysed by this merge, as
    they were; ``carried``: the last note held (its files are still as noted, and the rows
    this merge kept rest on them); ``since_ns``: when this merge started (a directory
    changed since then may hold a file it did not see: then no note is kept, and the next
    merge resolves every test); ``changed``: files changed during the run, left out (the
    rows built from them are DIRTY and keep no digest)."""
    dirs = {str(p): _dir_mtime(p) for p in search_roots}
    files: dict[str, list[int]] = {}
    old = store.get_meta(MEMO) if carried else None
    if isinstance(old, dict) and isinstance(old.get("files"), dict):
        files.update(old["files"])
    files.update({rel: list(st) for rel, st in stats.items() if rel not in changed})
    for rel in changed:
        files.pop(rel, None)
    for rel in files:
        parent = str((root / rel).parent)
        if parent not in dirs:
            dirs[parent] = _dir_mtime(Path(parent))
    if any(mtime >= since_ns for mtime in dirs.values()):
        store.set_meta(MEMO, None)
        return
    store.set_meta(MEMO, {"shared": shared, "files": files, "dirs": dirs})
