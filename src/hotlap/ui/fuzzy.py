"""fzf-style fuzzy matching of node ids (pure, no Textual).

A word matches a node id when its characters appear in it in order, not necessarily
together: ``ordrefnd`` matches ``test_orders.py::test_refund``. Case is ignored. Several
words must all match. Filtering runs on every row (50,000 at most), so a word becomes a
regular expression that ``re`` runs at C speed (``o[^r]*r[^d]*d…``: no backtracking,
~20 ms for 50,000 node ids here). Which characters to highlight is worked out only for
the rows on screen, as fzf's first algorithm does: the match that ends first, then the
shortest one ending there (so ``ord`` + ``ref`` + ``nd`` light up, not scattered letters).
"""

from __future__ import annotations

import re


def _pattern(word: str) -> re.Pattern[str]:
    parts = [re.escape(word[0])]
    for ch in word[1:]:
        escaped = re.escape(ch)
        parts.append(f"[^{escaped}]*{escaped}")
    return re.compile("".join(parts))


def match_positions(word: str, text: str) -> list[int] | None:
    """Where ``word``'s characters (lower case) match in ``text`` (lower case), or None."""
    if not word:
        return []
    # Forward: the match that ends first.
    i = 0
    end = -1
    for pos, ch in enumerate(text):
        if ch == word[i]:
            i += 1
            if i == len(word):
                end = pos
                break
    if end < 0:
        return None
    # Backward from there: the shortest match ending at ``end``.
    positions: list[int] = []
    j = len(word) - 1
    for pos in range(end, -1, -1):
        if text[pos] == word[j]:
            positions.append(pos)
            j -= 1
            if j < 0:
                break
    positions.reverse()
    return positions


class FuzzyFilter:
    """Every word of a filter, matched fuzzily; callable on a node id."""

    def __init__(self, words: list[str]) -> None:
        self.words = [w.lower() for w in words if w]
        self._searches = [_pattern(w).search for w in self.words]

    def __bool__(self) -> bool:
        return bool(self.words)

    def __call__(self, nodeid: str) -> bool:
        low = nodeid.lower()
        return all(search(low) is not None for search in self._searches)

    def positions(self, nodeid: str) -> list[int]:
        """The characters of ``nodeid`` to highlight (sorted, each once)."""
        low = nodeid.lower()
        found: set[int] = set()
        for word in self.words:
            found.update(match_positions(word, low) or ())
        return sorted(found)
