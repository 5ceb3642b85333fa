"""From what a test ran to the names it depends on (at merge time).

A function that ran depends on its own body (its block), on the statement that defines it
(decorators, signature; for a method, the class), and on every name its body reads, followed
through the module namespaces: ``click.testing.CliRunner`` read in a test is the name
``CliRunner`` of ``click/testing.py`` and whatever its definition reads (bases, decorators,
defaults), transitively; ``from M import N`` is followed to ``N`` in ``M``. An attribute read
on an object (``self.size``) depends on every class-body name of that spelling in the project.
A module-level registration (``@register`` with a ``register`` that mutates a global of its
module) links that global to the registering module's import-time code.

Each dependency is an item ``(file, name, checksum)`` of the store: ``=N`` for a name's
binding, a block name for a function body.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING

from hotlap.impact.blocks import EFFECTS, MODULE, FileInfo
from hotlap.paths import SKIP_DIRS

if TYPE_CHECKING:
    from hotlap.impact.project import Project
    from hotlap.impact.store import ImpactStore

Items = frozenset[int]

#: External base classes that do nothing with the class body (a class deriving only from
#: these and the project's own plain classes has class-body names of its own).
_PLAIN_BASES = frozenset(
    {"object", "Exception", "BaseException", "ValueError", "TypeError", "KeyError",
     "RuntimeError", "LookupError", "AttributeError", "IndexError", "OSError", "IOError",
     "UserWarning", "Warning", "DeprecationWarning", "NotImplementedError", "AssertionError",
     "dict", "list", "set", "tuple", "str", "int", "float", "bytes", "frozenset",
     "ABC", "Generic", "Protocol", "Thread", "local"}
)  # fmt: skip


class Resolver:
    """Item ids of names, blocks and attributes of one project, memoized for one merge."""

    def __init__(self, project: Project, store: ImpactStore, links: bool = True) -> None:
        self.project = project
        self.store = store
        #: Follow registration links (off for functions run at import: a registering
        #: decorator reads the registry it fills, and its importers are selected anyway).
        self.links = links
        self._items: dict[tuple[str, str], int] = {}
        self._names: dict[tuple[str, str], Items] = {}
        self._chains: dict[tuple[str, str], Items] = {}
        self._blocks: dict[tuple[str, str], Items] = {}
        self._attrs: dict[str, Items] | None = None
        self._members: dict[str, list[tuple[str, str]]] = {}
        self._registrants: dict[tuple[str, str], set[str]] | None = None
        self._plain: dict[tuple[str, str], bool] = {}

    # -- items ------------------------------------------------------------------------------
    def info(self, rel: str) -> FileInfo | None:
        return self.project.info(rel) if rel.endswith(".py") else None

    def item(self, rel: str, name: str) -> int:
        key = (rel, name)
        found = self._items.get(key)
        if found is None:
            info = self.project.info(rel)
            from hotlap.impact.blocks import MISSING

            checksum = info.checksum(name) if info is not None else MISSING
            found = self._items[key] = self.store.item_id(rel, name, checksum)
        return found

    # -- modules ----------------------------------------------------------------------------
    def module_file(self, rel: str, module: str, level: int) -> str | None:
        """The file of ``module`` as imported from ``rel`` (the last of its packages)."""
        found = self.project._resolve(rel, module, level)
        if not found:
            return None
        # _resolve gives a relative import's package and module candidates; the module
        # file is the last one that matches the dotted name's end.
        return found[-1]

    def submodule(self, rel: str, name: str) -> str | None:
        """``name`` as a submodule of the package whose ``__init__`` is ``rel``."""
        if not rel.endswith("__init__.py"):
            return None
        base = rel[: -len("__init__.py")]
        for cand in (f"{base}{name}.py", f"{base}{name}/__init__.py"):
            if (self.project.root / cand).is_file():
                return cand
        return None

    def bound_module(self, rel: str, name: str, depth: int = 0) -> str | None:
        """The module file that ``name`` is bound to in ``rel`` (None: not a module)."""
        info = self.info(rel)
        if info is None or depth > 20:
            return None
        for kind, module, level, orig in info.ns.get("bindings", {}).get(name, []):
            if kind == "import":
                found = self.module_file(rel, module, 0)
                if found is not None:
                    return found
            else:
                base = self.module_file(rel, module, level)
                if base is None:
                    continue
                base_info = self.info(base)
                if base_info is not None and orig in base_info.ns.get("names", {}):
                    inner = self.bound_module(base, orig, depth + 1)
                    if inner is not None:
                        return inner
                    continue
                sub = self.submodule(base, orig)
                if sub is not None:
                    return sub
        if name not in info.ns.get("names", {}):
            return self.submodule(rel, name)
        return None

    def locate(self, rel: str, parts: list[str], depth: int = 0) -> tuple[str, str] | None:
        """Where ``a.b.c`` read in ``rel`` is defined: (file, name) of a binding that is no
        import, or None."""
        info = self.info(rel)
        if info is None or not parts or depth > 20:
            return None
        name = parts[0]
        module = self.bound_module(rel, name)
        if module is not None:
            return self.locate(module, parts[1:], depth + 1) if len(parts) > 1 else None
        for kind, mod, level, orig in info.ns.get("bindings", {}).get(name, []):
            if kind == "from":
                base = self.module_file(rel, mod, level)
                if base is not None:
                    return self.locate(base, [orig, *parts[1:]], depth + 1)
        if name in info.ns.get("names", {}):
            return rel, name
        return None

    # -- names ------------------------------------------------------------------------------
    def name_items(self, rel: str, name: str) -> Items:
        """``=name`` of ``rel`` and everything its binding reads, transitively."""
        key = (rel, name)
        found = self._names.get(key)
        if found is not None:
            return found
        self._names[key] = frozenset()  # a cycle stops here
        info = self.info(rel)
        out: set[int] = {self.item(rel, "=" + name)}
        if info is not None:
            ns = info.ns
            reads = ns.get("reads", {}).get(name)
            if reads is not None:
                out |= self._reads(rel, reads)
            for kind, module, level, orig in ns.get("bindings", {}).get(name, []):
                if kind != "from":
                    continue
                base = self.module_file(rel, module, level)
                if base is None:
                    continue
                base_info = self.info(base)
                if base_info is not None and (
                    orig in base_info.ns.get("names", {}) or not self.submodule(base, orig)
                ):
                    out |= self.name_items(base, orig)
            if name not in ns.get("names", {}):
                for module, level in ns.get("stars", []):
                    base = self.module_file(rel, module, level)
                    if base is not None:
                        out |= self.name_items(base, name)
            cls = ns.get("classes", {}).get(name)
            if cls is not None and not self.plain(rel, name):
                # A dataclass, an Enum, attrs…: its body is consumed as a whole.
                for member in cls["members"]:
                    out |= self.name_items(rel, f"{name}.{member}")
            for registrant in self.registrants().get(key, ()) if self.links else ():
                out.add(self.item(registrant, MODULE))
        result = frozenset(out)
        self._names[key] = result
        return result

    def _reads(self, rel: str, reads: list[object]) -> set[int]:
        chains, attrs, _dynamic = reads
        out: set[int] = set()
        assert isinstance(chains, list) and isinstance(attrs, list)
        for chain in chains:
            out |= self.chain_items(rel, chain)
        for attr in attrs:
            out |= self.attr_items(attr)
        return out

    def chain_items(self, rel: str, chain: str) -> Items:
        """What reading the dotted ``chain`` (rooted at a global of ``rel``) depends on."""
        key = (rel, chain)
        found = self._chains.get(key)
        if found is not None:
            return found
        self._chains[key] = frozenset()
        parts = chain.split(".")
        out: set[int] = set(self.name_items(rel, parts[0]))
        rest = parts[1:]
        module = self.bound_module(rel, parts[0])
        if module is not None:
            if rest:
                out |= self.chain_items(module, ".".join(rest))
            else:
                # The module object itself (passed on, getattr'd): all of its names.
                out.add(self.item(module, MODULE))
        elif rest:
            info = self.info(rel)
            if info is not None and parts[0] in info.ns.get("classes", {}):
                out |= self.name_items(rel, f"{parts[0]}.{rest[0]}")
            for attr in rest:
                out |= self.attr_items(attr)
        result = frozenset(out)
        self._chains[key] = result
        return result

    def block_items(self, rel: str, block: str) -> Items:
        """A function that ran: its body, its definition, what its body reads."""
        key = (rel, block)
        found = self._blocks.get(key)
        if found is not None:
            return found
        self._blocks[key] = frozenset()
        info = self.info(rel)
        out: set[int] = set()
        if block.startswith("="):
            out |= self.name_items(rel, block[1:])
        else:
            out.add(self.item(rel, block))
            if info is not None and block != MODULE:
                reads = info.ns.get("block_reads", {}).get(block)
                if reads is not None:
                    out |= self._reads(rel, reads)
                top = block.split(".", 1)[0].split("#", 1)[0]
                out |= self.name_items(rel, top)
        result = frozenset(out)
        self._blocks[key] = result
        return result

    # -- classes ----------------------------------------------------------------------------
    def plain(self, rel: str, name: str, depth: int = 0) -> bool:
        """Whether class ``name`` of ``rel`` leaves its body alone (no decorator, metaclass
        or base class that reads class-body names)."""
        key = (rel, name)
        found = self._plain.get(key)
        if found is not None:
            return found
        self._plain[key] = True
        info = self.info(rel)
        cls = info.ns.get("classes", {}).get(name) if info is not None else None
        result = bool(cls and cls["plain"]) and depth < 20
        if result and cls is not None:
            for base in cls["bases"]:
                parts = base.split(".")
                where = self.locate(rel, parts)
                if where is not None:
                    base_info = self.info(where[0])
                    base_cls = base_info.ns.get("classes", {}).get(where[1]) if base_info else None
                    if (
                        base_cls is None  # not a class we know
                        or "__init_subclass__" in base_cls["methods"]  # it reads subclasses
                        or not self.plain(where[0], where[1], depth + 1)
                    ):
                        result = False
                elif parts[-1] not in _PLAIN_BASES:
                    result = False
                if not result:
                    break
        self._plain[key] = result
        return result

    def attr_items(self, attr: str) -> Items:
        """Every class-body name ``attr`` of the project's classes."""
        if self._attrs is None:
            self._index()
        assert self._attrs is not None
        found = self._attrs.get(attr)
        if found is None:
            out: set[int] = set()
            for rel, cls in self._members.get(attr, ()):
                out |= self.name_items(rel, f"{cls}.{attr}")
            found = self._attrs[attr] = frozenset(out)
        return found

    # -- the whole project ------------------------------------------------------------------
    def sources(self) -> Iterable[str]:
        """The project's Python files (root-relative)."""
        root = self.project.root
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [
                d
                for d in dirnames
                if d not in SKIP_DIRS
                and not d.startswith(".")
                and not d.endswith(".egg-info")
                and not os.path.exists(os.path.join(dirpath, d, "pyvenv.cfg"))
            ]
            for filename in filenames:
                if filename.endswith(".py"):
                    rel = self.project.rel(os.path.join(dirpath, filename))
                    if rel is not None:
                        yield rel

    def _index(self) -> None:
        self._attrs = {}
        registrants: dict[tuple[str, str], set[str]] = {}
        infos = [(rel, info) for rel in self.sources() if (info := self.info(rel))]
        for rel, info in infos:
            for cls, data in info.ns.get("classes", {}).items():
                for member in data["members"]:
                    self._members.setdefault(member, []).append((rel, cls))
        self._registrants = registrants
        for rel, info in infos:
            for chain in info.ns.get("regs", []):
                where = self.locate(rel, chain.split("."))
                if where is None:
                    continue
                target = self.info(where[0])
                changed = target.ns.get("mutates", {}).get(where[1]) if target else None
                for name in changed or ():
                    if name in target.ns.get("names", {}):  # type: ignore[union-attr]
                        registrants.setdefault((where[0], name), set()).add(rel)

    def registrants(self) -> dict[tuple[str, str], set[str]]:
        """(module, global) -> modules whose import-time code calls a function of that
        module which mutates the global (``@register``)."""
        if self._registrants is None:
            self._index()
        assert self._registrants is not None
        return self._registrants

    def effects(self, rel: str) -> int:
        return self.item(rel, EFFECTS)

    def star_items(self, rel: str) -> set[int]:
        """``from M import *`` in ``rel`` takes all of M's public namespace (``__all__``
        names that are gone fail it): M's module-level code as a whole."""
        info = self.info(rel)
        out: set[int] = set()
        for module, level in info.ns.get("stars", []) if info is not None else ():
            base = self.module_file(rel, module, level)
            if base is not None:
                out.add(self.item(base, MODULE))
        return out

    def imported_names(self, rel: str) -> set[int]:
        """That each name ``rel`` imports with ``from M import N`` still exists: a module
        that lost it fails to import, and with it every test importing ``rel``."""
        info = self.info(rel)
        out: set[int] = set()
        if info is None:
            return out
        for bindings in info.ns.get("bindings", {}).values():
            for kind, module, level, orig in bindings:
                if kind != "from":
                    continue
                base = self.module_file(rel, module, level)
                if base is not None and not self.submodule(base, orig):
                    out.add(self.item(base, "?" + orig))
        return out
