"""A project's files as impact selection sees them: analysed (cached by mtime and size),
their static import closures, and the conftest chain of a test file. Paths are relative to
pytest's rootdir, with ``/`` separators."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from hotlap.impact.blocks import Block, FileInfo, analyse_edit, analyse_source, data_digest
from hotlap.impact.store import ImpactStore
from hotlap.paths import SKIP_DIRS


def _to_json(info: FileInfo) -> dict[str, Any]:
    return {
        "sha": info.sha,
        "module": info.module,
        "whole": info.whole,
        "blocks": {n: [b.start, b.end, b.checksum, b.body] for n, b in info.blocks.items()},
        "imports": info.imports,
        "hooks": info.hooks,
        "error": info.error,
        "ns": info.ns,
        "text": info.text,
    }


def _from_json(data: dict[str, Any]) -> FileInfo:
    return FileInfo(
        sha=data["sha"],
        module=data["module"],
        whole=data["whole"],
        blocks={
            n: Block(n, b[0], b[1], b[2], b[3] if len(b) > 3 else 0)
            for n, b in data["blocks"].items()
        },
        imports=[(m, int(lv)) for m, lv in data["imports"]],
        hooks=bool(data["hooks"]),
        error=bool(data["error"]),
        ns=data.get("ns") or {},
        text=data.get("text") or "",
    )


def _analysis_version() -> str:
    """A digest of the analysing code: cached analyses made by other code are dropped (a
    file's checksums must all come from the same analysis)."""
    from hotlap.impact import blocks, names, reads
    from hotlap.impact.digest import blake2b

    digest = blake2b(digest_size=6)
    for module in (blocks, names, reads):
        try:
            with open(str(module.__file__), "rb") as f:
                digest.update(f.read())
        except OSError:
            digest.update(module.__name__.encode())
    return digest.hexdigest()


ANALYSIS = _analysis_version()


class Project:
    """Files under ``root``, analysed lazily."""

    def __init__(self, root: Path, store: ImpactStore, search_roots: list[str] | None = None):
        self.root = root
        self.store = store
        if store.get_meta("analysis") != ANALYSIS:
            store.conn.execute("DELETE FROM files")
            store.set_meta("analysis", ANALYSIS)
        roots = [root / "src", root, *(Path(p) for p in (search_roots or []))]
        self.search_roots = list(dict.fromkeys(r for r in roots if r.is_dir()))
        self._infos: dict[str, FileInfo | None] = {}
        self._closures: dict[str, frozenset[str]] = {}
        self._modules: dict[str, list[str]] = {}
        self._direct: dict[str, tuple[str, ...]] = {}
        self._rels: dict[str, str | None] = {}
        self._relative: dict[tuple[str, str, int], list[str]] = {}
        self._conftests: dict[str, list[str]] = {}
        #: (mtime_ns, size) of each file as analysed here: what its checksums describe.
        self.stats: dict[str, tuple[int, int]] = {}

    # -- paths ------------------------------------------------------------------------------
    def rel(self, path: str | Path) -> str | None:
        """``path`` relative to the root, or None when outside it or in a skipped dir.

        Memoized: merging a run asks this for the same few hundred files ~100k times.
        """
        key = str(path)
        if key in self._rels:
            return self._rels[key]
        found = self._rel(key)
        self._rels[key] = found
        return found

    def _rel(self, path: str) -> str | None:
        try:
            rel = Path(os.path.abspath(path)).relative_to(self.root)
        except ValueError:
            return None
        parts = rel.parts
        if not parts or any(p in SKIP_DIRS or p.endswith(".egg-info") for p in parts[:-1]):
            return None
        return rel.as_posix()

    def mtime_ns(self, rel: str) -> int | None:
        try:
            return (self.root / rel).stat().st_mtime_ns
        except OSError:
            return None

    # -- analysis ---------------------------------------------------------------------------
    def info(self, rel: str, fresh: bool = False) -> FileInfo | None:
        """The analysis of ``rel`` as it is on disk now (None when missing)."""
        if rel in self._infos and not fresh:
            return self._infos[rel]
        path = self.root / rel
        try:
            st = path.stat()
            if not path.is_file():
                raise FileNotFoundError(rel)
        except OSError:
            self._infos[rel] = None
            self.stats[rel] = (0, -1)  # missing: any file there later differs
            return None
        cached = None if fresh else self.store.cached_file(rel, st.st_mtime_ns, st.st_size)
        if cached is not None:
            info = _from_json(cached)
        else:
            try:
                content = path.read_bytes()
            except OSError:
                self._infos[rel] = None
                return None
            if rel.endswith(".py"):
                info = self._edited(rel, content) or analyse_source(content)
            else:
                info = FileInfo(sha=data_digest(content))
            self.store.cache_file(rel, st.st_mtime_ns, st.st_size, _to_json(info))
        self._infos[rel] = info
        self.stats[rel] = (st.st_mtime_ns, st.st_size)
        return info

    def _edited(self, rel: str, content: bytes) -> FileInfo | None:
        """The analysis of an edit inside one function, from the file's last analysis."""
        last = self.store.last_file(rel)
        if last is None:
            return None
        try:
            return analyse_edit(_from_json(last), content)
        except Exception:  # any doubt: the full analysis
            return None

    # -- imports ----------------------------------------------------------------------------
    def _module_files(self, dotted: str) -> list[str]:
        """Files run by importing ``dotted`` (its packages' ``__init__`` too). Memoized: a
        merge asks this for the same modules thousands of times (click: 13k calls, 2.7 s)."""
        found = self._modules.get(dotted)
        if found is None:
            found = self._modules[dotted] = self._find_module_files(dotted)
        return found

    def _find_module_files(self, dotted: str) -> list[str]:
        parts = [p for p in dotted.split(".") if p]
        for base in self.search_roots:
            found: list[str] = []
            here = base
            for i, part in enumerate(parts):
                here = here / part
                last = i == len(parts) - 1
                if (here / "__init__.py").is_file():
                    found.append(str(here / "__init__.py"))
                elif last and here.with_suffix(".py").is_file():
                    found.append(str(here.with_suffix(".py")))
                elif not here.is_dir():
                    break
            if found:
                return [r for r in (self.rel(f) for f in found) if r]
        return []

    def _resolve(self, rel: str, module: str, level: int) -> list[str]:
        if not level:
            return self._module_files(module)
        # Memoized by the importing file's directory: a merge resolves the same relative
        # imports thousands of times (click: 13k calls, 0.57 s of a 1.8 s merge).
        key = (os.path.dirname(rel), module, level)
        found = self._relative.get(key)
        if found is None:
            found = self._relative[key] = self._find_relative(rel, module, level)
        return found

    def _find_relative(self, rel: str, module: str, level: int) -> list[str]:
        if level:
            base = Path(rel).parent
            for _ in range(level - 1):
                base = base.parent
            target = self.root / base
            for part in [p for p in module.split(".") if p]:
                target = target / part
            found = []
            for cand in (target / "__init__.py", target.with_suffix(".py")):
                r = self.rel(cand) if cand.is_file() else None
                if r:
                    found.append(r)
            return found
        return self._module_files(module)

    def _imports_of(self, rel: str) -> tuple[str, ...]:
        """The project files ``rel`` imports directly (memoized per merge/selection)."""
        found = self._direct.get(rel)
        if found is None:
            info = self.info(rel) if rel.endswith(".py") else None
            files: dict[str, None] = {}
            for module, level in info.imports if info is not None else ():
                files.update(dict.fromkeys(self._resolve(rel, module, level)))
            found = self._direct[rel] = tuple(files)
        return found

    def closure(self, rel: str) -> frozenset[str]:
        """``rel`` and every project file it imports, transitively (static, conservative)."""
        done = self._closures.get(rel)
        if done is not None:
            return done
        seen: set[str] = set()
        todo = [rel]
        while todo:
            current = todo.pop()
            if current in seen:
                continue
            seen.add(current)
            todo.extend(f for f in self._imports_of(current) if f not in seen)
        result = frozenset(seen)
        self._closures[rel] = result
        return result

    def module_closure(self, dotted: str) -> frozenset[str]:
        """The closure of a module given by name (``python -m pkg.cli``)."""
        out: set[str] = set()
        for f in self._module_files(dotted):
            out |= self.closure(f)
        main = self._module_files(dotted + ".__main__")
        for f in main:
            out |= self.closure(f)
        return frozenset(out)

    def conftests(self, rel: str) -> list[str]:
        """conftest.py files pytest loads for test file ``rel`` (its dir up to the root;
        memoized by directory: asked once per test)."""
        parent = os.path.dirname(rel)
        found = self._conftests.get(parent)
        if found is None:
            found = self._conftests[parent] = self._find_conftests(rel)
        return list(found)

    def _find_conftests(self, rel: str) -> list[str]:
        found = []
        directory = Path(rel).parent
        while True:
            cand = (directory / "conftest.py").as_posix()
            if (self.root / cand).is_file():
                found.append(cand)
            if directory == Path("."):
                break
            directory = directory.parent
        return found
