"""What a piece of code reads from outside itself: global names, dotted chains rooted at
them (``click.testing.CliRunner``), attribute names read on other objects (``self.size``),
and the outside names it mutates. Static and conservative: a function's locals are its
arguments and whatever it binds; nested functions are left to themselves (each is a block of
its own, seen when it runs), lambdas and comprehensions count for the code around them.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from typing import Any

#: Function definitions (both kinds)
FUNCS = (ast.FunctionDef, ast.AsyncFunctionDef)

#: Methods whose call on a module-level object mutates it (anything else on a local object
#: is assumed to as well: the statement is part of that object's binding either way).
_MUTATING = frozenset(
    {
        "append",
        "extend",
        "insert",
        "add",
        "update",
        "setdefault",
        "pop",
        "remove",
        "clear",
        "discard",
        "register",
        "__setitem__",
        "__delitem__",
    }
)


def chain_of(node: ast.expr) -> list[str] | None:
    """``a.b.c`` as ``["a", "b", "c"]`` (None when not rooted at a name)."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return parts[::-1]
    return None


class Reads:
    """Global chains and attribute names read by some code."""

    __slots__ = ("attrs", "chains", "dynamic", "mutated")

    def __init__(self) -> None:
        self.chains: set[str] = set()
        self.attrs: set[str] = set()
        self.dynamic = False  # getattr(x, <not a constant>), vars(), __dict__
        #: Names from outside that the code mutates (items, attributes, mutating methods,
        #: ``global`` assignments).
        self.mutated: set[str] = set()

    def update(self, other: Reads) -> None:
        self.chains |= other.chains
        self.attrs |= other.attrs
        self.dynamic = self.dynamic or other.dynamic
        self.mutated |= other.mutated

    def as_json(self) -> list[Any]:
        return [sorted(self.chains), sorted(self.attrs), int(self.dynamic)]


def locals_of(fn: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> set[str]:
    """Names local to a function (its own body, not nested functions' bodies)."""
    found: set[str] = set()
    args = fn.args
    for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]:
        found.add(a.arg)
    if args.vararg:
        found.add(args.vararg.arg)
    if args.kwarg:
        found.add(args.kwarg.arg)
    declared: set[str] = set()
    stack: list[ast.AST] = list(fn.body) if isinstance(fn.body, list) else [fn.body]
    while stack:
        node = stack.pop()
        if isinstance(node, (*FUNCS, ast.ClassDef)):
            found.add(node.name)
            stack.extend(node.decorator_list)
            if isinstance(node, FUNCS):
                stack.extend(d for d in node.args.defaults if d is not None)
                stack.extend(d for d in node.args.kw_defaults if d is not None)
            else:
                stack.extend(node.bases)
            continue  # their bodies are their own scopes
        if isinstance(node, ast.Lambda):
            continue
        if isinstance(node, ast.Global):
            declared.update(node.names)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            found.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if alias.name != "*":
                    found.add((alias.asname or alias.name).split(".")[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            found.add(node.name)
        elif isinstance(node, ast.arg):
            found.add(node.arg)
        elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
            found.add(node.name)
        stack.extend(ast.iter_child_nodes(node))
    return found - declared


def reads_of(nodes: Sequence[ast.AST], local: set[str], nested: bool = False) -> Reads:
    """What ``nodes`` read from outside ``local`` names. Nested function bodies are left out
    (they are blocks of their own) unless ``nested``; lambdas and comprehensions are in."""
    out = Reads()
    stack: list[tuple[ast.AST, frozenset[str]]] = [(n, frozenset(local)) for n in nodes]
    while stack:
        node, scope = stack.pop()
        if isinstance(node, FUNCS):
            stack.extend((d, scope) for d in node.decorator_list)
            stack.extend((d, scope) for d in node.args.defaults)
            stack.extend((d, scope) for d in node.args.kw_defaults if d is not None)
            if nested:
                inner = scope | locals_of(node)
                stack.extend((b, inner) for b in node.body)
            continue
        if isinstance(node, ast.Lambda):
            inner = scope | locals_of(node)
            stack.extend((d, scope) for d in node.args.defaults)
            stack.append((node.body, inner))
            continue
        if isinstance(node, ast.ClassDef):
            stack.extend((d, scope) for d in [*node.decorator_list, *node.bases])
            stack.extend((k.value, scope) for k in node.keywords)
            stack.extend((b, scope) for b in node.body)
            continue
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
            targets = {
                n.id
                for gen in node.generators
                for n in ast.walk(gen.target)
                if isinstance(n, ast.Name)
            }
            scope = scope | targets
        if isinstance(node, (ast.Subscript, ast.Attribute)) and not isinstance(node.ctx, ast.Load):
            root = chain_of(node.value)
            if root and root[0] not in scope:
                out.mutated.add(root[0])
        elif isinstance(node, ast.Global):
            out.mutated.update(node.names)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in _MUTATING
        ):
            root = chain_of(node.func.value)
            if root and root[0] not in scope:
                out.mutated.add(root[0])
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
            chain = chain_of(node)
            if chain is not None and chain[0] not in scope:
                out.chains.add(".".join(chain))
                continue
            out.attrs.add(node.attr)
            if node.attr == "__dict__":
                out.dynamic = True
            stack.append((node.value, scope))
            continue
        if isinstance(node, ast.Attribute):  # store/del: the attribute, not the whole object
            chain = chain_of(node)
            if chain is not None and chain[0] not in scope:
                out.chains.add(".".join(chain))
                continue
            stack.append((node.value, scope))
            continue
        if isinstance(node, ast.Name):
            if isinstance(node.ctx, ast.Load) and node.id not in scope:
                out.chains.add(node.id)
            continue
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            name = node.func.id
            if name in ("getattr", "hasattr", "setattr", "delattr") and len(node.args) >= 2:
                key = node.args[1]
                if isinstance(key, ast.Constant) and isinstance(key.value, str):
                    out.attrs.add(key.value)
                    target = chain_of(node.args[0])
                    if target is not None and target[0] not in scope:
                        out.chains.add(".".join([*target, key.value]))
                else:
                    out.dynamic = True
            elif name in ("vars", "dir") and node.args:
                out.dynamic = True
        stack.extend((c, scope) for c in ast.iter_child_nodes(node))
    return out
