"""Module-level code by name: what each top-level (and class-body) name of a module is bound
to, what that binding and each function body read, and the statements whose effect no name
bounds.

Impact selection uses it to turn "this module's import-time code changed" into "these names
changed": a test then depends on a name when code it ran reads it (see
:mod:`hotlap.impact.resolve`). Checksums are ``ast.dump`` digests without positions, like
:mod:`hotlap.impact.blocks`, so comments and formatting change nothing.

A *read* is a dotted chain rooted at a global name (``FACTOR``, ``click.testing.CliRunner``);
an attribute read on anything else (``self.size``, ``ctx.obj``) is kept as the attribute's
name, matched later against the class-body names of every project class.

Statements that bind no name but act at import are *effects*, by kind: a change there selects
every test that imports the module, as before. A method call or item/attribute assignment on
a module's own object (``REGISTRY.append(f)``, ``cli.add_command(sub)``, ``@cli.command()``)
is part of that object's binding instead.
"""

from __future__ import annotations

import ast
from typing import Any

from hotlap.impact.digest import blake2b
from hotlap.impact.reads import FUNCS, Reads, chain_of, locals_of, reads_of

#: Effect kinds, as ``hotlap affected --why`` names them.
CALL = "call at import (registration, setup)"
SYS_PATH = "sys.path change"
PATCH = "attribute or item assignment (patching)"
ALL = "__all__"
STAR = "star import"
GETATTR = "module __getattr__/__dir__"
OTHER = "other import-time statement"

#: Names pytest reads from a test module or conftest by name (their change re-collects it).
PYTEST_NAMES = frozenset(
    {"pytestmark", "pytest_plugins", "__test__", "collect_ignore", "collect_ignore_glob"}
)
#: Hooks that run in a test's own context (recorded per test like any function).
_RUNTEST_HOOKS = ("pytest_runtest_", "pytest_fixture_")
GENERATE = "pytest_generate_tests"


def _digest(text: str) -> str:
    return blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


def _dump(node: ast.AST) -> str:
    return ast.dump(node, annotate_fields=False, include_attributes=False)


def _string_constants(node: ast.AST) -> set[str]:
    return {
        n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)
    }


def _is_fixture(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> tuple[str, bool] | None:
    """(argname, autouse) when ``fn`` is decorated with ``pytest.fixture``."""
    for deco in fn.decorator_list:
        call = deco if isinstance(deco, ast.Call) else None
        chain = chain_of(call.func if call else deco)
        if not chain or chain[-1] not in ("fixture", "yield_fixture"):
            continue
        name, autouse = fn.name, False
        for kw in call.keywords if call else []:
            if kw.arg == "name" and isinstance(kw.value, ast.Constant):
                name = str(kw.value.value)
            if kw.arg == "autouse" and isinstance(kw.value, ast.Constant):
                autouse = bool(kw.value.value)
        return name, autouse
    return None


def _marked_names(decorators: list[ast.expr]) -> list[str]:
    """Argument names given by ``usefixtures`` and ``parametrize`` marks."""
    found: list[Any] = []
    for deco in decorators:
        if not isinstance(deco, ast.Call):
            continue
        chain = chain_of(deco.func) or []
        if chain[-1:] == ["usefixtures"]:
            found += [a.value for a in deco.args if isinstance(a, ast.Constant)]
        elif chain[-1:] == ["parametrize"] and deco.args:
            first = deco.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                found += [n.strip() for n in first.value.split(",") if n.strip()]
            elif isinstance(first, (ast.List, ast.Tuple)):
                found += [e.value for e in first.elts if isinstance(e, ast.Constant)]
    return [str(n) for n in found]


def _func_args(fn: ast.FunctionDef | ast.AsyncFunctionDef, method: bool) -> list[str]:
    names = [a.arg for a in [*fn.args.posonlyargs, *fn.args.args, *fn.args.kwonlyargs]]
    if method and names and not any(chain_of(d) == ["staticmethod"] for d in fn.decorator_list):
        names = names[1:]
    return names + _marked_names(fn.decorator_list)


class _Binder:
    """Walks a module's top level."""

    def __init__(self) -> None:
        self.parts: dict[str, list[str]] = {}  # name -> dumps of what binds it
        self.reads: dict[str, Reads] = {}
        self.effects: dict[str, list[str]] = {}
        self.bindings: dict[str, list[list[Any]]] = {}  # import bindings
        self.stars: list[list[Any]] = []
        self.classes: dict[str, dict[str, Any]] = {}
        self.ranges: list[list[Any]] = []  # [start, end, item name]
        self.regs: set[str] = set()  # chains called at import (decorators, calls)
        self.locals: set[str] = set()  # names bound by def/class/assign (not imports)
        self.pytest: list[str] = []
        self.fixtures: dict[str, list[Any]] = {}  # argname -> [qualname, autouse, digest, args]
        self.args: dict[str, list[str]] = {}  # function qualname -> argument names
        self.generate: list[Any] | None = None  # [digest, constants, known]

    def bind(self, name: str, text: str, reads: Reads) -> None:
        self.parts.setdefault(name, []).append(text)
        self.reads.setdefault(name, Reads()).update(reads)

    def effect(self, kind: str, node: ast.AST) -> None:
        self.effects.setdefault(kind, []).append(_dump(node))
        self.regs.update(reads_of([node], set()).chains)

    # -- statements ----------------------------------------------------------------------
    def module(self, tree: ast.Module) -> None:
        body = tree.body
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            body = body[1:]
        # Which names are the module's own objects (mutations of them are bindings).
        for node in body:
            if isinstance(node, (*FUNCS, ast.ClassDef)):
                self.locals.add(node.name)
            elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for t in targets:
                    if isinstance(t, ast.Name):
                        self.locals.add(t.id)
        for stmt in body:
            self.statement(stmt)

    def _names_bound(self, stmts: list[ast.stmt]) -> set[str] | None:
        """Names a compound statement binds, or None when it also acts (a call, …)."""
        names: set[str] = set()
        for stmt in stmts:
            if isinstance(stmt, (*FUNCS, ast.ClassDef)):
                names.add(stmt.name)
            elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
                for alias in stmt.names:
                    if alias.name == "*":
                        return None
                    names.add((alias.asname or alias.name).split(".")[0])
            elif isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                for t in targets:
                    if not all(
                        isinstance(
                            n, (ast.Name, ast.Tuple, ast.List, ast.Starred, ast.Store, ast.Load)
                        )
                        for n in ast.walk(t)
                    ):
                        return None
                    names.update(n.id for n in ast.walk(t) if isinstance(n, ast.Name))
            elif isinstance(stmt, (ast.Pass, ast.Raise)) or (
                isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)
            ):
                continue
            elif isinstance(stmt, (ast.If, ast.Try, ast.With)) or type(stmt).__name__ == (
                "TryStar"
            ):
                inner: list[ast.stmt] = [*getattr(stmt, "body", []), *getattr(stmt, "orelse", [])]
                inner += getattr(stmt, "finalbody", [])
                for handler in getattr(stmt, "handlers", []):
                    inner += handler.body
                found = self._names_bound(inner)
                if found is None:
                    return None
                names |= found
            else:
                return None
        return names

    def statement(self, stmt: ast.stmt) -> None:
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            return
        if isinstance(stmt, ast.Pass):
            return
        start, end = stmt.lineno, stmt.end_lineno or stmt.lineno
        if isinstance(stmt, FUNCS):
            self.function(stmt)
            return
        if isinstance(stmt, ast.ClassDef):
            self.klass(stmt)
            return
        if isinstance(stmt, ast.Import):
            for alias in stmt.names:
                if alias.asname:
                    name, target = alias.asname, alias.name
                else:
                    name = target = alias.name.split(".")[0]
                self.bind(name, _dump(ast.Import([alias])), Reads())
                self.bindings.setdefault(name, []).append(["import", target, 0, ""])
            return
        if isinstance(stmt, ast.ImportFrom):
            for alias in stmt.names:
                if alias.name == "*":
                    self.stars.append([stmt.module or "", stmt.level])
                    self.effects.setdefault(STAR, []).append(_dump(stmt))
                    continue
                name = alias.asname or alias.name
                text = _dump(ast.ImportFrom(stmt.module, [alias], stmt.level))
                self.bind(name, text, Reads())
                self.bindings.setdefault(name, []).append(
                    ["from", stmt.module or "", stmt.level, alias.name]
                )
            return
        if isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            names = [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]
            if "__all__" in names:
                self.effects.setdefault(ALL, []).append(_dump(stmt))
                return
            plain = all(
                isinstance(n, (ast.Name, ast.Tuple, ast.List, ast.Starred, ast.Store, ast.Load))
                for t in targets
                for n in ast.walk(t)
            )
            if plain:
                reads = reads_of([stmt], set())
                if isinstance(stmt, ast.AugAssign):
                    reads.chains.update(names)
                for name in names:
                    self.bind(name, _dump(stmt), reads)
                    self.ranges.append([start, end, "=" + name])
                return
            root = self._owner(list(targets))
            if root is not None:  # REGISTRY["x"] = f, Box.__hash__ = …: part of the object
                self.bind(root, _dump(stmt), reads_of([stmt], set()))
                return
            self._patch(stmt)
            return
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
            func = stmt.value.func
            chain = chain_of(func) if isinstance(func, ast.Attribute) else None
            if chain and chain[0] == "sys" and "path" in chain[1:2]:
                self.effect(SYS_PATH, stmt)
            elif chain and len(chain) >= 2 and chain[0] in self.locals:
                # cli.add_command(sub), REGISTRY.append(x): the object's own binding.
                self.bind(chain[0], _dump(stmt), reads_of([stmt], set()))
            elif isinstance(func, ast.Name) and func.id in ("setattr", "delattr"):
                self.effect(PATCH, stmt)
            else:
                self.effect(CALL, stmt)
            return
        if isinstance(stmt, ast.If) and self._main_guard(stmt.test):
            return  # never runs at import
        if isinstance(stmt, (ast.If, ast.Try, ast.With)) or type(stmt).__name__ == "TryStar":
            bound = self._names_bound([stmt])
            if bound is not None:
                # try: import x / except ImportError: x = None — a binding of its names.
                stripped = _strip_bodies(stmt)
                reads = reads_of([stmt], set())
                for name in sorted(bound):
                    self.bind(name, _dump(stripped), reads)
                    self.ranges.append([start, end, "=" + name])
                self._nested_defs(stmt)
                return
        kind = (
            SYS_PATH
            if "sys" in {n.id for n in ast.walk(stmt) if isinstance(n, ast.Name)}
            and any(isinstance(n, ast.Attribute) and n.attr == "path" for n in ast.walk(stmt))
            else OTHER
        )
        self.effect(kind, stmt)

    def _nested_defs(self, stmt: ast.stmt) -> None:
        """Functions defined under if/try: their argument names (for fixtures/tests)."""
        for node in ast.walk(stmt):
            if isinstance(node, FUNCS):
                self.args.setdefault(node.name, _func_args(node, False))

    @staticmethod
    def _main_guard(test: ast.expr) -> bool:
        return (
            isinstance(test, ast.Compare)
            and isinstance(test.left, ast.Name)
            and test.left.id == "__name__"
            and any(isinstance(c, ast.Constant) and c.value == "__main__" for c in test.comparators)
        )

    def _owner(self, targets: list[ast.expr]) -> str | None:
        roots = set()
        for t in targets:
            if not isinstance(t, (ast.Attribute, ast.Subscript)):
                return None
            chain = chain_of(t.value)
            if not chain or chain[0] not in self.locals or chain[0] in self.bindings:
                return None
            roots.add(chain[0])
        return roots.pop() if len(roots) == 1 else None

    def _patch(self, stmt: ast.stmt) -> None:
        names = {n.id for n in ast.walk(stmt) if isinstance(n, ast.Name)}
        self.effect(SYS_PATH if "sys" in names and "path" in _attr_names(stmt) else PATCH, stmt)

    def _decorators(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> None:
        """``@cli.command()`` on a module's own object: the definition is part of it too;
        every decorator is a call at import (kept for registration links)."""
        for deco in node.decorator_list:
            target = deco.func if isinstance(deco, ast.Call) else deco
            chain = chain_of(target)
            if chain is None:
                continue
            self.regs.add(".".join(chain))
            if len(chain) >= 2 and chain[0] in self.locals and chain[0] not in self.bindings:
                self.bind(chain[0], _dump(_strip_bodies(node)), reads_of([node], set()))

    def function(self, fn: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        name = fn.name
        self.args[name] = _func_args(fn, False)
        if name in ("__getattr__", "__dir__"):
            self.effects.setdefault(GETATTR, []).append(_dump(fn))
            return
        fixture = _is_fixture(fn)
        stripped = _strip_bodies(fn)
        if name.startswith("pytest_") and not name.startswith(_RUNTEST_HOOKS):
            if name == GENERATE:
                self.generate = [
                    _digest(_dump(fn)),
                    sorted(_string_constants(fn)),
                    int(_generate_known(fn)),
                ]
            else:
                self.pytest.append(_dump(fn))
        self._decorators(fn)
        self.bind(name, _dump(stripped), reads_of([fn], set()))
        if fixture is not None:
            argname, autouse = fixture
            self.fixtures[argname] = [
                name,
                int(autouse),
                _digest(_dump(stripped)),
                _func_args(fn, False),
            ]

    def klass(self, cls: ast.ClassDef) -> None:
        name = cls.name
        self._decorators(cls)
        members: dict[str, list[str]] = {}
        member_reads: dict[str, Reads] = {}
        shape: list[str] = []  # what the class object is, apart from plain member values
        methods: list[str] = []
        fixtures: dict[str, list[Any]] = {}
        class_names = set()
        for stmt in cls.body:
            if isinstance(stmt, (*FUNCS, ast.ClassDef)):
                class_names.add(stmt.name)
            elif isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                class_names.update(
                    n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)
                )
        for stmt in cls.body:
            if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
                continue
            if isinstance(stmt, FUNCS):
                methods.append(stmt.name)
                self.args[f"{name}.{stmt.name}"] = _func_args(stmt, True)
                fixture = _is_fixture(stmt)
                if fixture is not None:
                    fixtures[fixture[0]] = [
                        f"{name}.{stmt.name}",
                        int(fixture[1]),
                        _digest(_dump(_strip_bodies(stmt))),
                        _func_args(stmt, True),
                    ]
                # Method bodies are blocks; the decorators and signature are the block's too,
                # but the shape of the class holds the name and decorators (a property).
                shape.append(_dump(_strip_bodies(stmt)))
                continue
            assigned: list[ast.expr] = []
            if isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                assigned = list(stmt.targets) if isinstance(stmt, ast.Assign) else [stmt.target]
            names = [n.id for t in assigned for n in ast.walk(t) if isinstance(n, ast.Name)]
            if (
                names
                and all(isinstance(t, ast.Name) for t in assigned)
                and not any(n.startswith("__") and n.endswith("__") for n in names)
            ):
                reads = reads_of([stmt], set())
                for n in names:
                    members.setdefault(n, []).append(_dump(stmt))
                    member_reads.setdefault(n, Reads()).update(reads)
                    self.ranges.append(
                        [stmt.lineno, stmt.end_lineno or stmt.lineno, f"={name}.{n}"]
                    )
                continue
            # Dunders (__slots__, __hash__ = None), nested classes, anything else: the class
            # as a whole.
            shape.append(_dump(_strip_bodies(stmt)))
        head = ast.ClassDef(
            name=cls.name,
            bases=cls.bases,
            keywords=cls.keywords,
            body=[],
            decorator_list=cls.decorator_list,
        )
        shape.insert(0, _dump(head))
        shape.append(repr(sorted(members)))
        reads = reads_of([*cls.decorator_list, *cls.bases, *(k.value for k in cls.keywords)], set())
        for stmt in cls.body:
            if not isinstance(stmt, FUNCS) and not (
                isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign))
                and all(
                    isinstance(t, ast.Name)
                    for t in (stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target])
                )
            ):
                reads.update(reads_of([stmt], set()))
            elif isinstance(stmt, FUNCS):
                reads.update(reads_of(stmt.decorator_list, set()))
        # Class-body names read inside the class body are its members.
        for r in (reads, *member_reads.values()):
            for chain in list(r.chains):
                head_name = chain.split(".", 1)[0]
                if head_name in class_names:
                    r.chains.add(f"{name}.{chain}")
        self.bind(name, "\n".join(shape), reads)
        plain = not cls.decorator_list and not cls.keywords
        self.classes[name] = {
            "plain": int(plain),
            "bases": [".".join(c) for b in cls.bases if (c := chain_of(b))],
            "members": sorted(members),
            "methods": methods,
        }
        for n, texts in members.items():
            self.bind(f"{name}.{n}", "\n".join(texts), member_reads[n])
        for argname, fx in fixtures.items():
            self.fixtures.setdefault(argname, fx)


def _attr_names(node: ast.AST) -> set[str]:
    return {n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)}


def _generate_known(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """Whether a ``pytest_generate_tests`` decides only from the argument names it sees
    (``metafunc.fixturenames``), so its string constants say which tests it can touch."""
    if not fn.args.args:
        return False
    meta = fn.args.args[0].arg
    for node in ast.walk(fn):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == meta
            and node.attr not in ("fixturenames", "parametrize", "config")
        ):
            return False
    return True


_BODIES = ("body", "orelse", "finalbody", "handlers", "cases")


def _strip_bodies(node: ast.AST) -> ast.AST:
    """``node`` with function bodies replaced by ``...`` (shallow copies along the way: the
    tree itself is not changed)."""
    import copy

    if isinstance(node, FUNCS):
        bare = copy.copy(node)
        bare.body = [ast.Expr(ast.Constant(...))]
        return bare
    changed = False
    fields: dict[str, Any] = {}
    for name in _BODIES:
        value = getattr(node, name, None)
        if not isinstance(value, list):
            continue
        items = [_strip_bodies(v) if isinstance(v, ast.AST) else v for v in value]
        if any(a is not b for a, b in zip(items, value, strict=True)):
            changed = True
            fields[name] = items
    if not changed:
        return node
    new = copy.copy(node)
    for name, value in fields.items():
        setattr(new, name, value)
    return new


def _functions(
    body: list[ast.stmt],
    enclosing: set[str],
    owners: list[str],
    by_start: dict[int, str],
    block_reads: dict[str, list[Any]],
    mutates: dict[str, set[str]],
) -> None:
    """Each function's own reads (nested functions are blocks of their own) and the globals
    it mutates (a decorator factory's inner function counts for the factory)."""
    for node in body:
        if isinstance(node, FUNCS):
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            name = by_start.get(start)
            local = enclosing | locals_of(node)
            reads = reads_of(list(node.body), local)
            chain = [*owners, name] if name else owners
            if name is not None:
                block_reads[name] = reads.as_json()
            if reads.mutated:
                for owner in chain:
                    mutates.setdefault(owner, set()).update(reads.mutated)
            _functions(node.body, local, chain, by_start, block_reads, mutates)
        elif isinstance(node, ast.ClassDef):
            _functions(node.body, enclosing, owners, by_start, block_reads, mutates)
        else:
            for attr in _BODIES:
                inner = getattr(node, attr, None)
                if isinstance(inner, list):
                    stmts = [n for n in inner if isinstance(n, ast.stmt)]
                    _functions(stmts, enclosing, owners, by_start, block_reads, mutates)
            for handler in getattr(node, "handlers", []) or []:
                _functions(handler.body, enclosing, owners, by_start, block_reads, mutates)


def function_view(
    old: dict[str, Any],
    node: ast.FunctionDef | ast.AsyncFunctionDef,
    name: str,
    blocks: dict[str, Any],
    delta: int,
    span: tuple[int, int],
) -> dict[str, Any] | None:
    """``old`` (a module's name-level view) after an edit inside the body of its function
    ``name`` (now ``node``), which spanned the lines ``span`` and grew by ``delta`` lines:
    only that function's reads and mutations are computed again."""
    end = span[1]
    gone = {n for n in old.get("block_reads", {}) if n == name or n.startswith(name + ".")}
    block_reads = {n: r for n, r in old.get("block_reads", {}).items() if n not in gone}
    mutates = {n: set(m) for n, m in old.get("mutates", {}).items() if n not in gone}
    by_start = {b.start: n for n, b in blocks.items() if n == name or n.startswith(name + ".")}
    _functions([node], set(), [], by_start, block_reads, mutates)
    if any(n not in block_reads for n in by_start.values()):
        return None
    ranges = [
        [a + delta if a > end else a, b + delta if b > end else b, n]
        for a, b, n in old.get("ranges", [])
    ]
    return {
        **old,
        "block_reads": block_reads,
        "mutates": {n: sorted(m) for n, m in mutates.items()},
        "ranges": ranges,
    }


def analyse_names(tree: ast.Module, blocks: dict[str, Any]) -> dict[str, Any]:
    """The name-level view of a parsed module (JSON-able), given its blocks by name."""
    binder = _Binder()
    binder.module(tree)
    names = {n: _digest("\n".join(parts)) for n, parts in binder.parts.items()}
    block_reads: dict[str, list[Any]] = {}
    mutates: dict[str, set[str]] = {}
    by_start = {b.start: n for n, b in blocks.items()}
    _functions(tree.body, set(), [], by_start, block_reads, mutates)
    pytest_text = [d for n in PYTEST_NAMES for d in binder.parts.get(n, [])]
    return {
        "names": names,
        "reads": {
            n: r.as_json() for n, r in binder.reads.items() if r.chains or r.attrs or r.dynamic
        },
        "effects": {k: _digest("\n".join(v)) for k, v in binder.effects.items()},
        "bindings": binder.bindings,
        "stars": binder.stars,
        "classes": binder.classes,
        "ranges": binder.ranges,
        "regs": sorted(binder.regs),
        "block_reads": block_reads,
        "mutates": {n: sorted(m) for n, m in mutates.items()},
        "pytest": _digest("\n".join(sorted(binder.pytest + pytest_text))),
        "fixtures": binder.fixtures,
        "args": binder.args,
        "generate": binder.generate,
        "tests": _digest(repr(_test_names(tree))),
    }


def _test_names(tree: ast.Module) -> list[str]:
    """Test functions and classes (pytest's default patterns) and their test methods: a
    test module whose list changes is collected again as a whole."""
    found = []
    for node in tree.body:
        if isinstance(node, FUNCS) and node.name.startswith("test"):
            found.append(node.name)
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            found.append(node.name)
            found += [
                f"{node.name}.{m.name}"
                for m in node.body
                if isinstance(m, FUNCS) and m.name.startswith("test")
            ]
    return sorted(found)
