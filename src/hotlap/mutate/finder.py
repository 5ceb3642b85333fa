"""The in-memory import hook of mutation runs: a module is imported from a mutant's code.

Standard library only, and loaded by file path (never as ``hotlap.…``): it runs inside the
processes that test a mutant, including any Python a test starts in a subprocess (through
:mod:`hotlap.mutate.site.sitecustomize`), where hotlap may not be importable and where a test
suite must not find hotlap's modules imported.

A mutant travels as a file outside the project (``HOTLAP_MUTANT`` names it): one JSON line
(the mutated source file's path and the interpreter's bytecode magic number), then the
module's code object, ``marshal``-ed. The project's own file is never written, and nothing
is cached: the code exists only in the memory of the processes that import it.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import marshal
import os
import sys
from types import CodeType
from typing import Any

ENV_MUTANT = "HOTLAP_MUTANT"


def write_mutant(path: str, source_file: str, code: CodeType) -> None:
    """Write the mutant file ``path`` for ``code``, the mutated module of ``source_file``."""
    head = {"file": os.path.realpath(source_file), "magic": importlib.util.MAGIC_NUMBER.hex()}
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "wb") as f:
        f.write(json.dumps(head).encode() + b"\n" + marshal.dumps(code))
    os.replace(tmp, path)


def read_mutant(path: str) -> tuple[str, CodeType] | None:
    """(source file, code) of a mutant file, or None when this interpreter cannot use it."""
    try:
        with open(path, "rb") as f:
            data = f.read()
        head_bytes, _, body = data.partition(b"\n")
        head: dict[str, Any] = json.loads(head_bytes)
        if head.get("magic") != importlib.util.MAGIC_NUMBER.hex():
            return None  # another Python version: its bytecode would not load
        code = marshal.loads(body)
    except (OSError, ValueError, EOFError, TypeError):
        return None
    if not isinstance(code, CodeType):
        return None
    return str(head["file"]), code


class MutantLoader(importlib.machinery.SourceFileLoader):
    """Loads one module from the mutant's code; never writes bytecode."""

    def __init__(self, fullname: str, path: str, code: CodeType) -> None:
        super().__init__(fullname, path)
        self._mutant_code = code

    def get_code(self, fullname: str) -> CodeType:
        return self._mutant_code

    def set_data(self, path: str, data: bytes, *, _mode: int = 0o666) -> None:  # type: ignore[override]
        return None


class MutantFinder:
    """A meta path finder that gives the mutated file's module the mutant's code.

    The other finders locate the module as usual (a ``src`` layout, an editable install's
    own finder); only the loader of the one file that holds the mutant is replaced.
    """

    def __init__(self, source_file: str, code: CodeType) -> None:
        self.file = os.path.realpath(source_file)
        self.code = code
        base = os.path.basename(self.file)
        stem = base[:-3] if base.endswith(".py") else base
        # Cheap filter: only imports whose last name part can be this file are looked up twice.
        self.last = os.path.basename(os.path.dirname(self.file)) if stem == "__init__" else stem

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname.rpartition(".")[2] != self.last:
            return None
        for finder in sys.meta_path:
            if finder is self or isinstance(finder, MutantFinder):
                continue
            find = getattr(finder, "find_spec", None)
            if find is None:
                continue
            spec = find(fullname, path, target)
            if spec is None:
                continue
            origin = spec.origin
            if origin and os.path.realpath(origin) == self.file:
                spec.loader = MutantLoader(fullname, origin, self.code)
                spec.cached = None
            return spec
        return None

    def invalidate_caches(self) -> None:
        return None


def install(source_file: str, code: CodeType) -> MutantFinder:
    """Put a finder for this mutant first on ``sys.meta_path``."""
    finder = MutantFinder(source_file, code)
    sys.meta_path.insert(0, finder)
    return finder


def install_from_env() -> MutantFinder | None:
    """Install the mutant ``HOTLAP_MUTANT`` names, if any and usable here."""
    path = os.environ.get(ENV_MUTANT)
    if not path:
        return None
    found = read_mutant(path)
    if found is None:
        return None
    return install(*found)
