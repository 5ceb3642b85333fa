"""The mutation operators: what each makes, that every mutant compiles with the lines
unchanged, and that blocks are named as impact selection names them."""

from __future__ import annotations

import ast
import textwrap

from hotlap.impact.blocks import analyse_source
from hotlap.mutate.operators import MODULE, block_nodes, compile_mutant, mutations

SOURCE = textwrap.dedent(
    '''
    """Module docstring."""
    from __future__ import annotations

    import os
    from typing import TYPE_CHECKING

    if TYPE_CHECKING:
        LIMIT_TYPE = int

    __all__ = ["clamp"]
    LIMIT = 10
    NAMES = ["a", "b"]


    def retry(times=3):
        def deco(fn):
            return fn
        return deco


    @retry(times=4)
    def clamp(x, low=0):
        """Docstring."""
        if x > LIMIT and not low:
            return LIMIT
        for i in range(x):
            if i == 3:
                break
            else:
                continue
        log(x)  # pragma: no mutate
        log(x)
        total = x - low
        total += 1
        return total if total else None


    class Box:
        size = 10

        def area(self) -> int:
            return self.size ** 2


    if __name__ == "__main__":
        clamp(1)
    '''
)


def changes(block: str) -> list[str]:
    return [f"{m.kind}: {m.short}" for m in mutations(SOURCE, block)]


def test_operators_of_a_function() -> None:
    """Comparison, boolean, if, return, constants, loop, call removal, arithmetic, assign;
    the docstring and the pragma line are left alone."""
    found = changes("clamp")
    assert "condition: if x > LIMIT and not low:  ->  if True:" in found
    assert "condition: if x > LIMIT and not low:  ->  if False:" in found
    assert "boolean: if x > LIMIT and not low:  ->  if x > LIMIT or not low:" in found
    assert "comparison: if x > LIMIT and not low:  ->  if x >= LIMIT and not low:" in found
    assert "boolean: if x > LIMIT and not low:  ->  if x > LIMIT and low:" in found
    assert "return: return LIMIT  ->  return None" in found
    assert "comparison: if i == 3:  ->  if i != 3:" in found
    assert "constant: if i == 3:  ->  if i == 4:" in found
    assert "constant: if i == 3:  ->  if i == 2:" in found
    assert "loop: break  ->  continue" in found
    assert "loop: continue  ->  break" in found
    assert "call: log(x)  ->  pass" in found
    assert "arithmetic: total = x - low  ->  total = x + low" in found
    assert "none: total = x - low  ->  total = None" in found
    assert "arithmetic: total += 1  ->  total -= 1" in found
    assert "condition: return total if total else None  ->  return total if True else None" in (
        found
    )
    assert not [f for f in found if "Docstring" in f]
    assert sum("log(x)" in f for f in found) == 1  # the pragma line is not mutated


def test_module_level_code() -> None:
    """Constants, defaults, decorator arguments, class attributes; not imports, __all__,
    TYPE_CHECKING blocks, the __main__ block, nor function bodies or annotations."""
    found = changes(MODULE)
    assert "constant: LIMIT = 10  ->  LIMIT = 11" in found
    assert "constant: LIMIT = 10  ->  LIMIT = 9" in found
    assert 'constant: NAMES = ["a", "b"]  ->  NAMES = []' in found
    assert "constant: def retry(times=3):  ->  def retry(times=4):" in found
    assert "constant: @retry(times=4)  ->  @retry(times=5)" in found
    assert "constant: def clamp(x, low=0):  ->  def clamp(x, low=1):" in found
    assert "constant: size = 10  ->  size = 11" in found
    text = "\n".join(found)
    for absent in ("__all__", "LIMIT_TYPE", "clamp(1)", "__future__", "-> int", "return"):
        assert absent not in text, absent


def test_every_mutant_compiles_with_its_lines() -> None:
    """Each mutant compiles; the functions keep their first lines (what the import hook and
    the code swap match on)."""
    tree = ast.parse(SOURCE)
    lines = {n: node.lineno for n, node in block_nodes(tree).items()}
    for block in [MODULE, *lines]:
        for mutation in mutations(SOURCE, block):
            code = compile_mutant(SOURCE, "m.py", block, mutation.index)
            seen = {}
            stack = [code]
            while stack:
                current = stack.pop()
                for const in current.co_consts:  # type: ignore[attr-defined]
                    if hasattr(const, "co_firstlineno"):
                        seen[const.co_name] = const.co_firstlineno
                        stack.append(const)
            assert seen["area"] == lines["Box.area"]
            assert seen["deco"] == lines["retry.deco"]


def test_blocks_named_as_impact_names_them() -> None:
    """Block names (nested, methods, redefinitions) equal impact's, so the recorded tests
    of a block are found by name."""
    source = SOURCE + (
        "\n\ndef clamp(x):\n    return x\n\nif True:\n    def inner():\n        pass\n"
    )
    assert list(block_nodes(ast.parse(source))) == list(analyse_source(source.encode()).blocks)
