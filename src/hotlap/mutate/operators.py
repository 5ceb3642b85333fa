"""Mutation operators on Python's AST, per block of a source file.

A block is what impact selection records a test as depending on: a function or method by
its qualified name (``Class.method``, ``outer.inner``; a redefinition gets ``#2``), or
``<module>``, the code that runs at import (constants, class attributes, decorators and
default arguments). The mutants of a block are numbered in a fixed walk order, so the pair
(block checksum, number) names the same change on every run, in every process: a process
that must apply mutant ``k`` parses the file and applies the ``k``-th change of that block.

Operators (after the issue's list): comparison and boundary (``<`` ↔ ``<=``, ``==`` ↔ ``!=``,
``is``/``in`` negated), arithmetic (``+`` ↔ ``-``, ``*`` ↔ ``/``, ...; augmented assignments
too), boolean (``and`` ↔ ``or``, ``not x`` → ``x``), constants (numbers ±1, strings and
collections emptied, ``True`` ↔ ``False``), an assigned value → ``None``, the returned value →
``None``, a call statement removed, ``break`` ↔ ``continue``, an ``if`` condition → ``True`` /
``False``. Changes the compiler would reject, docstrings, annotations, ``if TYPE_CHECKING``
and ``if __name__ == "__main__"`` blocks, dunder assignments (``__all__``) and lines marked
``# pragma: no mutate`` are left alone.
"""

from __future__ import annotations

import ast
import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from hotlap.impact.blocks import named_functions

#: Name of the module-level block (as :mod:`hotlap.impact.blocks` names it).
MODULE = "<module>"
PRAGMA = "pragma: no mutate"

_FUNCS = (ast.FunctionDef, ast.AsyncFunctionDef)

_COMPARE: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
}
_ARITH: dict[type[ast.operator], type[ast.operator]] = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.Div,
    ast.Div: ast.Mult,
    ast.FloorDiv: ast.Div,
    ast.Mod: ast.Div,
    ast.Pow: ast.Mult,
    ast.LShift: ast.RShift,
    ast.RShift: ast.LShift,
    ast.BitAnd: ast.BitOr,
    ast.BitOr: ast.BitAnd,
    ast.BitXor: ast.BitAnd,
}
#: Fields holding type annotations: never mutated (they do not run, or do not matter).
_ANNOTATIONS = frozenset({"annotation", "returns", "type_comment", "type_params"})


@dataclass(frozen=True)
class Mutation:
    """One mutant of a block: where it is and what it changes."""

    block: str
    index: int  # its number among the block's mutants (the walk order)
    line: int
    kind: str
    old: str  # the source line (stripped)
    new: str  # the same line with the change

    @property
    def diff(self) -> str:
        """The change as a two-line unified diff of its line."""
        return f"-{self.old}\n+{self.new}"

    @property
    def short(self) -> str:
        """The change on one line: ``old  ->  new``."""
        return f"{self.old}  ->  {self.new}"


# A place in the tree: the node whose text changes, where it hangs, and how to change it
# (``make`` takes that node, possibly a copy, and returns what stands in its place).
_Make = Callable[[ast.AST], ast.AST]


@dataclass
class _Point:
    span: ast.AST
    parent: ast.AST
    field: str
    index: int | None
    make: _Make
    kind: str

    def apply(self) -> None:
        new = self.make(self.span)
        if new is not self.span:
            ast.copy_location(new, self.span)
        if self.index is None:
            setattr(self.parent, self.field, new)
        else:
            getattr(self.parent, self.field)[self.index] = new


# -- blocks ---------------------------------------------------------------------------------
def block_nodes(tree: ast.Module) -> dict[str, ast.FunctionDef | ast.AsyncFunctionDef]:
    """Function and method nodes by block name, named as
    :func:`hotlap.impact.blocks.analyse_source` names them."""
    return dict(named_functions(tree))


def outermost_function(
    tree: ast.Module, block: str
) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    """The function whose code object holds ``block``'s code: the block itself or the
    function it is nested in (a method counts as outermost: classes are not functions)."""
    nodes = block_nodes(tree)
    target = nodes.get(block)
    if target is None:
        return None
    parents: dict[int, ast.AST] = {}
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            parents[id(child)] = node
    outer: ast.FunctionDef | ast.AsyncFunctionDef = target
    here: ast.AST | None = parents.get(id(target))
    while here is not None:
        if isinstance(here, _FUNCS):
            outer = here
        here = parents.get(id(here))
    return outer


# -- walking ----------------------------------------------------------------------------------
def _children(node: ast.AST) -> Iterator[tuple[ast.AST, str, int | None]]:
    for field, value in ast.iter_fields(node):
        if field in _ANNOTATIONS:
            continue
        if isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, ast.AST):
                    yield item, field, i
        elif isinstance(value, ast.AST):
            yield value, field, None


def _is_docstring(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    )


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _is_main_guard(test: ast.expr) -> bool:
    return (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == "__name__"
        and any(isinstance(c, ast.Constant) and c.value == "__main__" for c in test.comparators)
    )


def _dunder_target(node: ast.AST) -> bool:
    if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        return any(
            isinstance(t, ast.Name) and t.id.startswith("__") and t.id.endswith("__")
            for t in targets
        )
    return False


Visit = tuple[ast.AST, ast.AST, str, int | None]


def _walk(node: ast.AST, *, module_level: bool) -> Iterator[Visit]:
    """Pre-order (node, parent, field, index) under ``node``, skipping what never mutates.

    ``module_level``: a function's body is someone else's block (only its decorators and
    defaults run here); otherwise nested functions' bodies are their own blocks as well.
    """
    for child, field, index in _children(node):
        if isinstance(child, (ast.Import, ast.ImportFrom, ast.Global, ast.Nonlocal)):
            continue
        if field == "body" and index == 0 and _is_docstring(child):
            continue
        if _dunder_target(child):
            continue
        if isinstance(node, ast.JoinedStr) and isinstance(child, ast.Constant):
            continue
        if field == "format_spec":
            continue
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            continue
        yield child, node, field, index
        if isinstance(child, _FUNCS):
            # The def statement runs here: its decorators and defaults; its body is a block.
            for deco_i, deco in enumerate(child.decorator_list):
                yield deco, child, "decorator_list", deco_i
                yield from _walk(deco, module_level=module_level)
            yield from _walk(child.args, module_level=module_level)
            continue
        if isinstance(child, ast.If) and _is_main_guard(child.test):
            continue  # runs only as ``python -m``: importing tests could never kill it
        yield from _walk(child, module_level=module_level)


def _block_visits(tree: ast.Module, block: str) -> Iterator[Visit]:
    if block == MODULE:
        yield from _walk(tree, module_level=True)
        return
    node = block_nodes(tree).get(block)
    if node is None:
        return
    for i, stmt in enumerate(node.body):
        if i == 0 and _is_docstring(stmt):
            continue
        if isinstance(stmt, (ast.Import, ast.ImportFrom, ast.Global, ast.Nonlocal)):
            continue
        yield stmt, node, "body", i
        if isinstance(stmt, _FUNCS):
            for deco_i, deco in enumerate(stmt.decorator_list):
                yield deco, stmt, "decorator_list", deco_i
                yield from _walk(deco, module_level=False)
            yield from _walk(stmt.args, module_level=False)
            continue
        yield from _walk(stmt, module_level=False)


# -- operators ------------------------------------------------------------------------------------
def _set_op(op: ast.AST) -> _Make:
    def make(node: ast.AST) -> ast.AST:
        node.op = op  # type: ignore[attr-defined]
        return node

    return make


def _set_cmp(i: int, op: ast.cmpop) -> _Make:
    def make(node: ast.AST) -> ast.AST:
        assert isinstance(node, ast.Compare)
        node.ops = [*node.ops[:i], op, *node.ops[i + 1 :]]
        return node

    return make


def _const(value: Any) -> _Make:
    return lambda node: ast.Constant(value)


def _operand(node: ast.AST) -> ast.AST:
    assert isinstance(node, ast.UnaryOp)
    return node.operand


def _emptied(node: ast.AST) -> ast.AST:
    if isinstance(node, ast.Dict):
        return ast.Dict(keys=[], values=[])
    if isinstance(node, ast.Set):
        return ast.Call(func=ast.Name("set", ast.Load()), args=[], keywords=[])
    if isinstance(node, ast.List):
        return ast.List(elts=[], ctx=ast.Load())
    return ast.Tuple(elts=[], ctx=ast.Load())


def _return_none(node: ast.AST) -> ast.AST:
    return ast.Return(value=ast.Constant(None))


def _assign_none(node: ast.AST) -> ast.AST:
    assert isinstance(node, (ast.Assign, ast.AnnAssign))
    node.value = ast.Constant(None)
    ast.copy_location(node.value, node)
    return node


def _points(node: ast.AST, parent: ast.AST, field: str, index: int | None) -> Iterator[_Point]:
    def at(make: _Make, kind: str, span: ast.AST = node) -> _Point:
        return _Point(span, parent, field, index, make, kind)

    if isinstance(node, ast.Compare):
        for i, op in enumerate(node.ops):
            new_cmp = _COMPARE.get(type(op))
            if new_cmp is not None:
                yield at(_set_cmp(i, new_cmp()), "comparison")
    elif isinstance(node, ast.BinOp):
        new_op = _ARITH.get(type(node.op))
        formatting = (
            isinstance(node.op, ast.Mod)
            and isinstance(node.left, ast.Constant)
            and isinstance(node.left.value, (str, bytes))
        )
        if new_op is not None and not formatting:
            yield at(_set_op(new_op()), "arithmetic")
    elif isinstance(node, ast.AugAssign):
        new_op = _ARITH.get(type(node.op))
        if new_op is not None:
            yield at(_set_op(new_op()), "arithmetic")
    elif isinstance(node, ast.BoolOp):
        yield at(_set_op(ast.Or() if isinstance(node.op, ast.And) else ast.And()), "boolean")
    elif isinstance(node, ast.UnaryOp):
        if isinstance(node.op, ast.Not):
            yield at(_operand, "boolean")
        elif isinstance(node.op, (ast.USub, ast.Invert)):
            yield at(_operand, "arithmetic")
    elif isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, bool):
            yield at(_const(not value), "constant")
        elif isinstance(value, int):
            yield at(_const(value + 1), "constant")
            yield at(_const(value - 1), "constant")
        elif isinstance(value, float):
            yield at(_const(value + 1.0), "constant")
        elif isinstance(value, str):
            yield at(_const("" if value else "XX"), "constant")
        elif isinstance(value, bytes):
            yield at(_const(b"" if value else b"XX"), "constant")
    elif isinstance(node, (ast.List, ast.Dict, ast.Set)):
        loading = not isinstance(getattr(node, "ctx", ast.Load()), (ast.Store, ast.Del))
        filled = bool(node.keys if isinstance(node, ast.Dict) else node.elts)
        if loading and filled:
            yield at(_emptied, "constant")
    elif isinstance(node, ast.Tuple):
        if (
            isinstance(parent, (ast.Return, ast.Assign))
            and field == "value"
            and node.elts
            and isinstance(node.ctx, ast.Load)
        ):
            yield at(_emptied, "constant")
    elif isinstance(node, ast.Return):
        returned = node.value
        if returned is not None and not (
            isinstance(returned, ast.Constant) and returned.value is None
        ):
            yield at(_return_none, "return")
    elif isinstance(node, (ast.Assign, ast.AnnAssign)):
        assigned = node.value
        if assigned is not None and not isinstance(assigned, ast.Constant):
            yield at(_assign_none, "none")
    elif isinstance(node, ast.Expr):
        inner = node.value.value if isinstance(node.value, ast.Await) else node.value
        if isinstance(inner, ast.Call):
            yield at(lambda n: ast.Pass(), "call")
    elif isinstance(node, ast.Break):
        yield at(lambda n: ast.Continue(), "loop")
    elif isinstance(node, ast.Continue):
        yield at(lambda n: ast.Break(), "loop")
    elif isinstance(node, (ast.If, ast.IfExp)):
        test = node.test
        if not isinstance(test, ast.Constant) and not _is_main_guard(test):
            for flag in (True, False):
                yield _Point(test, node, "test", None, _const(flag), "condition")


# -- enumerating and applying --------------------------------------------------------------------
def _all_points(tree: ast.Module, block: str, skip_lines: frozenset[int]) -> list[_Point]:
    found = []
    for node, parent, field, index in _block_visits(tree, block):
        for point in _points(node, parent, field, index):
            if getattr(point.span, "lineno", 0) not in skip_lines:
                found.append(point)
    return found


def _pragma_lines(source: str) -> frozenset[int]:
    return frozenset(i for i, line in enumerate(source.splitlines(), 1) if PRAGMA in line)


def _line_change(lines: list[str], point: _Point) -> tuple[str, str]:
    """(the source line, the line with the change) for ``point``."""
    span = point.span
    lineno = getattr(span, "lineno", 1)
    line = lines[lineno - 1] if 0 < lineno <= len(lines) else ""
    try:
        new_text = ast.unparse(point.make(copy.deepcopy(span)))
    except Exception:  # an odd node ast.unparse cannot render
        new_text = "?"
    new_text = new_text.splitlines()[0] if new_text else new_text
    raw = line.encode("utf-8")
    start = getattr(span, "col_offset", 0)
    end_line = getattr(span, "end_lineno", lineno)
    if end_line == lineno:
        end = getattr(span, "end_col_offset", len(raw))
        changed = raw[:start].decode("utf-8", "replace") + new_text
        changed += raw[end:].decode("utf-8", "replace")
        return line.strip(), changed.strip()
    changed = raw[:start].decode("utf-8", "replace") + new_text
    return line.strip() + " …", changed.strip()


def mutations(source: str, block: str, tree: ast.Module | None = None) -> list[Mutation]:
    """Every mutant of ``block`` in ``source``, in order (empty when it cannot be parsed)."""
    if tree is None:
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError):
            return []
    lines = source.splitlines()
    out = []
    for i, point in enumerate(_all_points(tree, block, _pragma_lines(source))):
        old, new = _line_change(lines, point)
        if old == new:
            continue  # nothing visible changes (an odd unparse): not a mutant worth a run
        out.append(Mutation(block, i, getattr(point.span, "lineno", 0), point.kind, old, new))
    return out


def mutated_tree(source: str, block: str, index: int) -> ast.Module:
    """``source`` parsed, with mutant ``index`` of ``block`` applied (IndexError if absent)."""
    tree = ast.parse(source)
    points = _all_points(tree, block, _pragma_lines(source))
    points[index].apply()
    ast.fix_missing_locations(tree)
    return tree


def compile_mutant(source: str, filename: str, block: str, index: int) -> object:
    """The module code object of ``source`` with mutant ``index`` of ``block``: what
    importing the file would run, line numbers unchanged."""
    tree = mutated_tree(source, block, index)
    return compile(tree, filename, "exec", dont_inherit=True)


def blocks_of(tree: ast.Module) -> list[str]:
    """The block names of a parsed file, module-level code first."""
    return [MODULE, *block_nodes(tree)]
