"""What a Python source file is made of, for impact selection: its code blocks (functions and
methods) with AST checksums, a checksum of its module-level code, and the modules it imports.

Checksums come from ``ast.dump`` without positions, so comment and formatting changes leave
them unchanged. The module-level checksum covers everything that runs at import: statements,
class bodies, decorators, signatures and default values (function bodies excluded), plus, in a
``conftest.py``, the bodies of ``pytest_*`` hooks (they run at collection, not in a test).
"""

from __future__ import annotations

import ast
import os
from collections import deque
from collections.abc import Iterator
from typing import Any, NamedTuple

from hotlap.impact.digest import blake2b

#: Block names with a special meaning (never a Python qualified name).
MODULE = "<module>"  # module-level code
WHOLE = "<ast>"  # the whole file's AST (subprocess closures)
UNSEEN = "<unseen>"  # the whole file's AST: its code ran without markers
DATA = "<data>"  # a data file's bytes
COLLECT_DATA = "<collect-data>"  # a data file read while a test module was collected
LISTING = "<listing>"  # a directory's entries (listed while a test module was collected)
DIRTY = "<dirty>"  # changed while the run was going on: always selects
EFFECTS = "<effects>"  # import-time statements no name bounds, by kind
PYTEST = "<pytest>"  # what pytest reads by name: pytestmark, pytest_plugins, collection hooks
TESTS = "<tests>"  # the test functions and classes a test module defines
GENERATE = "<generate>"  # pytest_generate_tests: digest|argument names it names|known
FIXTURE = "<fixture:"  # + argname + ">": a fixture's definition (decorator, signature)
#: The effect kind of a module ``__getattr__`` (it can provide any name).
GETATTR_KIND = "module __getattr__/__dir__"
SYNTAX_ERROR = "<syntax-error>"
MISSING = "<missing>"

_FUNCS = (ast.FunctionDef, ast.AsyncFunctionDef)


class Block(NamedTuple):
    """One function or method: where it is now and its checksum."""

    name: str  # qualified name, "Class.method"; a redefinition gets "#2", "#3"…
    start: int  # first line, decorators included (what ``co_firstlineno`` says)
    end: int
    checksum: str
    body: int = 0  # first line of its body (0: unknown)


class FileInfo:
    """A parsed source file (or a data file: only ``sha`` is set). A plain class: see
    :class:`hotlap.impact.selection.Selection`."""

    __slots__ = (
        "_at",
        "blocks",
        "error",
        "hooks",
        "imports",
        "module",
        "ns",
        "sha",
        "text",
        "whole",
    )

    def __init__(
        self,
        sha: str,
        module: str = "",
        whole: str = "",
        blocks: dict[str, Block] | None = None,
        imports: list[tuple[str, int]] | None = None,
        hooks: bool = False,
        error: bool = False,
        ns: dict[str, Any] | None = None,
        text: str = "",
    ) -> None:
        self.sha = sha
        self.module = module
        self.whole = whole
        self.blocks: dict[str, Block] = {} if blocks is None else blocks
        self.imports: list[tuple[str, int]] = [] if imports is None else imports  # (module, level)
        self.hooks = hooks  # a conftest with pytest_* hooks
        self.error = error
        #: The name-level view (see :func:`hotlap.impact.names.analyse_names`); {} for data.
        self.ns: dict[str, Any] = {} if ns is None else ns
        #: The source it was made from (Python files): the next analysis of an edit inside one
        #: function re-parses only that function.
        self.text = text
        # block_at's answers: a merge asks once per recorded function, a file holds many.
        self._at: dict[int, str] = {}

    def checksum(self, name: str) -> str:
        """The current checksum of block ``name`` (MISSING when it is gone)."""
        if self.error:
            return SYNTAX_ERROR
        if name == MODULE:
            return self.module
        if name in (WHOLE, UNSEEN):
            return self.whole
        if name in (DATA, COLLECT_DATA):
            return self.sha
        if name[:1] == "=":
            return str(self.ns.get("names", {}).get(name[1:], MISSING))
        if name[:1] == "?":  # that the name exists (an import of it fails otherwise)
            ns = self.ns
            found = (
                name[1:] in ns.get("names", {})
                or ns.get("stars")
                or GETATTR_KIND in ns.get("effects", {})
            )
            return "1" if found else MISSING
        if name == EFFECTS:
            effects = self.ns.get("effects", {})
            return ";".join(f"{k}={v}" for k, v in sorted(effects.items()))
        if name == PYTEST:
            return str(self.ns.get("pytest", ""))
        if name == TESTS:
            return str(self.ns.get("tests", ""))
        if name == GENERATE:
            gen = self.ns.get("generate")
            return MISSING if not gen else f"{gen[0]}|{','.join(gen[1])}|{gen[2]}"
        if name.startswith(FIXTURE):
            fx = self.ns.get("fixtures", {}).get(name[len(FIXTURE) : -1])
            return MISSING if not fx else f"{fx[2]}|{fx[1]}"
        block = self.blocks.get(name)
        return block.checksum if block is not None else MISSING

    def block_at(self, line: int) -> str:
        """Name of the block a code object starting at ``line`` belongs to (innermost); for
        code outside any function (a lambda in ``KEY = lambda …``), the name that statement
        binds (``=KEY``), else MODULE."""
        name = self._at.get(line)
        if name is None:
            name = self._scan(line)
            if name == MODULE:
                for start, end, bound in self.ns.get("ranges", ()):
                    if start <= line <= end:
                        name = bound
                        break
            self._at[line] = name
        return name

    def _scan(self, line: int) -> str:
        best: Block | None = None
        for block in self.blocks.values():
            if block.start == line:
                return block.name
            if block.start <= line <= block.end and (best is None or block.start >= best.start):
                best = block
        return best.name if best is not None else MODULE


def _digest(text: str) -> str:
    return blake2b(text.encode("utf-8", "surrogatepass"), digest_size=10).hexdigest()


def listing_digest(path: str) -> str:
    """Checksum of a directory's entry names (MISSING when it is not a directory)."""
    import os

    try:
        names = sorted(os.listdir(path))
    except OSError:
        return MISSING
    return _digest("\n".join(names))


def data_digest(content: bytes) -> str:
    """Checksum of a data file's bytes."""
    return blake2b(content, digest_size=10).hexdigest()


def file_digest(path: str | os.PathLike[str]) -> str:
    """:func:`data_digest` of the file at ``path`` now, :data:`MISSING` if it cannot be read."""
    try:
        with open(path, "rb") as f:
            return data_digest(f.read())
    except OSError:
        return MISSING


class _StripBodies(ast.NodeTransformer):
    """Module-level view: function bodies replaced by ``...`` (hooks in a conftest kept)."""

    def __init__(self, keep_hooks: bool) -> None:
        self.keep_hooks = keep_hooks
        self.found_hooks = False

    def _strip(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> ast.AST:
        if self.keep_hooks and node.name.startswith("pytest_"):
            self.found_hooks = True
            return node
        node.body = [ast.Expr(ast.Constant(...))]
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        return self._strip(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> ast.AST:
        return self._strip(node)


def named_functions(
    tree: ast.Module,
) -> Iterator[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    """Every function and method of ``tree`` with its block name: its qualified name
    (``Class.method``), ``#2``, ``#3``… for a name defined again. Functions under
    if/try/with at any level count; a class only prefixes its methods' names."""
    taken: set[str] = set()

    def visit(
        body: list[ast.stmt], prefix: str
    ) -> Iterator[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
        for node in body:
            if isinstance(node, (*_FUNCS, ast.ClassDef)):
                qual = f"{prefix}{node.name}"
                if isinstance(node, _FUNCS):
                    name, n = qual, 1
                    while name in taken:
                        n += 1
                        name = f"{qual}#{n}"
                    taken.add(name)
                    yield name, node
                yield from visit(node.body, qual + ".")
            elif hasattr(node, "body") and isinstance(node.body, list):
                for attr in ("body", "orelse", "finalbody", "handlers"):
                    yield from visit(getattr(node, attr, []) or [], prefix)

    yield from visit(tree.body, "")


def start_line(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """A function's first line as its code object says (decorators included)."""
    return min([node.lineno, *(d.lineno for d in node.decorator_list)])


def _collect_blocks(tree: ast.Module) -> dict[str, Block]:
    blocks: dict[str, Block] = {}
    for name, node in named_functions(tree):
        dump = ast.dump(node, annotate_fields=False, include_attributes=False)
        end = node.end_lineno or node.lineno
        blocks[name] = Block(name, start_line(node), end, _digest(dump), node.body[0].lineno)
    return blocks


#: What lists of statements hold, and a statement can be in.
_BLOCKS = (ast.stmt, ast.excepthandler, ast.match_case)


def _statements(tree: ast.Module) -> Iterator[ast.AST]:
    """Every statement of ``tree``, nested ones too, breadth first (as :func:`ast.walk`
    meets them), without visiting expressions: a tenth of the nodes."""
    todo: deque[ast.AST] = deque(tree.body)
    while todo:
        node = todo.popleft()
        yield node
        for attr in node._fields:  # in their order, as ast.walk
            nested = getattr(node, attr, None)
            if isinstance(nested, list) and nested and isinstance(nested[0], _BLOCKS):
                todo.extend(nested)


def _imports(tree: ast.Module, text: str | None = None) -> list[tuple[str, int]]:
    """Every import anywhere in the file (inside functions too: when in doubt, select).

    Import statements are statements: the expressions are walked too (4x the time on
    click's core.py) only when ``text`` names ``import_module`` or ``__import__``."""
    found: list[tuple[str, int]] = []
    calls = text is None or "import_module" in text or "__import__" in text
    for node in ast.walk(tree) if calls else _statements(tree):
        if isinstance(node, ast.Import):
            found.extend((alias.name, 0) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            found.append((base, node.level))
            found.extend(
                (f"{base}.{alias.name}" if base else alias.name, node.level)
                for alias in node.names
                if alias.name != "*"
            )
        elif (
            isinstance(node, ast.Call)
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and (
                (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
                or (
                    isinstance(node.func, ast.Name)
                    and node.func.id in ("import_module", "__import__")
                )
            )
        ):
            found.append((node.args[0].value, 0))
    return found


def analyse_source(content: bytes, is_conftest: bool = False) -> FileInfo:
    """Blocks, checksums and imports of one Python file's bytes (never raises)."""
    sha = data_digest(content)
    try:
        tree = ast.parse(content)
    except (SyntaxError, ValueError):
        return FileInfo(sha=sha, module=SYNTAX_ERROR, whole=SYNTAX_ERROR, error=True)
    blocks = _collect_blocks(tree)
    text = _text(content)
    imports = _imports(tree, text or None)
    from hotlap.impact.names import analyse_names

    ns = analyse_names(tree, blocks)
    # pytest_* hooks run at collection in any file pytest loads (conftests, test modules,
    # plugins), never inside a test: their bodies count as module-level code everywhere.
    stripper = _StripBodies(keep_hooks=True)
    stripped = stripper.visit(tree)
    module = _digest(ast.dump(stripped, annotate_fields=False, include_attributes=False))
    whole = _whole(module, blocks)
    return FileInfo(
        sha=sha,
        module=module,
        whole=whole,
        blocks=blocks,
        imports=imports,
        hooks=stripper.found_hooks,
        ns=ns,
        text=text,
    )


def _text(content: bytes) -> str:
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        return ""


def _whole(module: str, blocks: dict[str, Block]) -> str:
    """The whole file's checksum: its module-level code (function bodies left out) and each
    function's own checksum, so that it changes with any change of the AST."""
    parts = [module, *(f"{n}={b.checksum}" for n, b in sorted(blocks.items()))]
    return _digest("\n".join(parts))


def analyse_edit(old: FileInfo, content: bytes) -> FileInfo | None:
    """The analysis of ``content`` from ``old`` when the edit lies inside one function's
    body (the usual save while working): only that function is parsed again. None when the
    edit reaches further (a signature, a decorator, module-level code, a hook)."""
    new_text = _text(content)
    if not old.text or not new_text or old.error:
        return None
    old_lines = old.text.split("\n")
    new_lines = new_text.split("\n")
    prefix = 0
    limit = min(len(old_lines), len(new_lines))
    while prefix < limit and old_lines[prefix] == new_lines[prefix]:
        prefix += 1
    if prefix == len(old_lines) == len(new_lines):
        return None  # same text, other bytes (an encoding detail): analyse in full
    suffix = 0
    while (
        suffix < limit - prefix
        and old_lines[len(old_lines) - 1 - suffix] == new_lines[len(new_lines) - 1 - suffix]
    ):
        suffix += 1
    first, last = prefix + 1, len(old_lines) - suffix  # the old lines replaced (1-based)
    delta = len(new_lines) - len(old_lines)
    # The outermost function whose body holds the whole edit.
    outer: Block | None = None
    for block in old.blocks.values():
        inside = block.body and block.body <= first and last <= block.end
        if inside and (outer is None or block.start < outer.start):
            outer = block
    if outer is None or "#" in outer.name or outer.name in ("__getattr__", "__dir__"):
        return None  # a redefinition's nested names are numbered file-wide
    if outer.name.split(".")[-1].startswith("pytest_"):
        return None  # a hook's body is module-level code (it runs at collection)
    if any("#" in n for n, b in old.blocks.items() if outer.start <= b.start <= outer.end):
        return None
    if outer.body > first or (last < first and outer.body >= first):
        return None
    start, end = outer.start, outer.end + delta
    snippet = new_lines[start - 1 : end]
    indent = len(snippet[0]) - len(snippet[0].lstrip())
    source = ("if 1:\n" if indent else "") + "\n".join(snippet)
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    body = tree.body[0].body if indent and isinstance(tree.body[0], ast.If) else tree.body
    if len(body) != 1 or not isinstance(body[0], _FUNCS):
        return None
    node = body[0]
    ast.increment_lineno(tree, start - 1 - (1 if indent else 0))
    if (node.end_lineno or 0) != end or min(
        [node.lineno, *(d.lineno for d in node.decorator_list)]
    ) != start:
        return None
    prefix_name = outer.name.rsplit(".", 1)[0] + "." if "." in outer.name else ""
    base = outer.name.split("#", 1)[0].rsplit(".", 1)[-1]
    if node.name != base:
        return None
    fresh = _collect_blocks(ast.Module([node], []))
    blocks: dict[str, Block] = {}
    for name, block in old.blocks.items():
        if outer.start <= block.start <= outer.end:
            continue  # the edited function and the functions nested in it: parsed again
        if block.start > outer.end:
            block = Block(
                name, block.start + delta, block.end + delta, block.checksum, block.body + delta
            )
        blocks[name] = block
    for name, block in fresh.items():
        qual = prefix_name + name
        if qual in blocks or "#" in name:
            return None
        blocks[qual] = Block(qual, block.start, block.end, block.checksum, block.body)
    from hotlap.impact.names import function_view

    ns = function_view(
        old.ns, node, outer.name, {n: b for n, b in blocks.items()}, delta, (outer.start, outer.end)
    )
    if ns is None:
        return None
    return FileInfo(
        sha=data_digest(content),
        module=old.module,
        whole=_whole(old.module, blocks),
        blocks=blocks,
        imports=old.imports if not _imports(tree) else old.imports + _imports(tree),
        hooks=old.hooks,
        ns=ns,
        text=new_text,
    )
