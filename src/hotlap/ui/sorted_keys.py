"""A sorted list of unique keys in blocks: insert, remove and find in O(log n + BLOCK).

The tests table keeps its rows' keys here (see :mod:`hotlap.ui.live_index`): a refresh
moves a few hundred rows among 50,000, which a plain sorted list would pay for with a
50,000-element ``list.insert`` each time.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable, Iterator
from itertools import accumulate
from typing import Any

#: Keys per block: inserting costs a ``list.insert`` in one block.
BLOCK = 1_000


class SortedKeys:
    """Unique, mutually comparable keys (tuples, ints), kept sorted."""

    def __init__(self, keys: Iterable[Any] = (), *, ordered: bool = False) -> None:
        """``ordered``: the keys are already sorted (sorting 50,000 tuples costs ~100 ms)."""
        ordered_keys = list(keys) if ordered else sorted(keys)
        self._blocks: list[list[Any]] = [
            ordered_keys[i : i + BLOCK] for i in range(0, len(ordered_keys), BLOCK)
        ]
        self._maxes: list[Any] = [b[-1] for b in self._blocks]
        self._len = len(ordered_keys)
        self._starts: list[int] | None = None

    def __len__(self) -> int:
        return self._len

    def _block_of(self, key: Any) -> int:
        i = bisect_left(self._maxes, key)
        return min(i, len(self._blocks) - 1)

    def add(self, key: Any) -> None:
        self._starts = None
        self._len += 1
        if not self._blocks:
            self._blocks.append([key])
            self._maxes.append(key)
            return
        i = self._block_of(key)
        block = self._blocks[i]
        insort(block, key)
        self._maxes[i] = block[-1]
        if len(block) > 2 * BLOCK:
            self._blocks[i : i + 1] = [block[:BLOCK], block[BLOCK:]]
            self._maxes[i : i + 1] = [block[BLOCK - 1], block[-1]]

    def remove(self, key: Any) -> None:
        """Remove ``key``, which must be present (KeyError otherwise)."""
        if not self._blocks:
            raise KeyError(key)
        i = self._block_of(key)
        block = self._blocks[i]
        j = bisect_left(block, key)
        if j >= len(block) or block[j] != key:
            raise KeyError(key)
        del block[j]
        self._starts = None
        self._len -= 1
        if block:
            self._maxes[i] = block[-1]
        else:
            del self._blocks[i], self._maxes[i]

    def __contains__(self, key: object) -> bool:
        if not self._blocks:
            return False
        block = self._blocks[self._block_of(key)]
        j = bisect_left(block, key)
        return j < len(block) and block[j] == key

    def _block_starts(self) -> list[int]:
        if self._starts is None:
            self._starts = [0, *accumulate(len(b) for b in self._blocks)]
        return self._starts

    def position(self, key: Any) -> int:
        """Where ``key`` (present) is, counting from 0."""
        i = self._block_of(key)
        return self._block_starts()[i] + bisect_left(self._blocks[i], key)

    def count_below(self, key: Any) -> int:
        """How many keys sort before ``key`` (present or not)."""
        i = bisect_left(self._maxes, key)
        if i == len(self._blocks):
            return self._len
        return self._block_starts()[i] + bisect_left(self._blocks[i], key)

    def at(self, pos: int) -> Any:
        starts = self._block_starts()
        i = bisect_right(starts, pos) - 1
        return self._blocks[i][pos - starts[i]]

    def between(self, start: int, stop: int) -> Iterator[Any]:
        """Keys at positions ``start`` to ``stop - 1``, in order."""
        if start >= stop or start >= self._len:
            return
        starts = self._block_starts()
        i = bisect_right(starts, start) - 1
        offset = start - starts[i]
        left = stop - start
        while left > 0 and i < len(self._blocks):
            part = self._blocks[i][offset : offset + left]
            yield from part
            left -= len(part)
            i, offset = i + 1, 0

    def __iter__(self) -> Iterator[Any]:
        for block in self._blocks:
            yield from block
