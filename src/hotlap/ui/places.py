"""Each collected nodeid's first place in the collection, indexed a chunk at a time.

The tests table's queued rows are kept as places in the collection (see
:mod:`hotlap.ui.live_index`), so a test that starts needs its place. A dict of 50,000
nodeids costs ~8-15 ms to build on this kind of machine (cache misses, not hashing), in the
refresh that receives the collection, which is already the slowest one. So the places are
indexed in chunks: a lookup indexes as far as the nodeid it asks for, and
:meth:`CollectionPlaces.advance` lets each refresh index one more chunk until all are done.
Tests start near the beginning of the collection (xdist hands out tests in collection order),
so the refresh that receives the collection indexes little.

Repeated entries (pytest ``--keep-duplicates``) are found at once, with a set (about half
the dict's cost), because the number of rows depends on them; a collection with repeats is
indexed whole, one entry at a time.
"""

from __future__ import annotations

#: Entries indexed per :meth:`CollectionPlaces.advance` (~1-2 ms here).
CHUNK = 8_192


class CollectionPlaces:
    """``nodeid -> first place`` in ``collected``, and the places of repeated entries."""

    def __init__(self, collected: list[str]) -> None:
        self.collected = collected
        self._places: dict[str, int] = {}
        #: Entries indexed so far: ``collected[:built]``.
        self.built = 0
        #: Places of entries that repeat an earlier nodeid (pytest --keep-duplicates).
        self.repeats: set[int] = set()
        if len(set(collected)) < len(collected):
            self._redo(len(collected))
            self.built = len(collected)

    @property
    def done(self) -> bool:
        return self.built >= len(self.collected)

    def advance(self, count: int | None = None) -> None:
        """Index ``count`` (default :data:`CHUNK`) more entries."""
        collected, places = self.collected, self._places
        start = self.built
        stop = min(len(collected), start + (CHUNK if count is None else count))
        if start >= stop:
            return
        # At C speed (no entry repeats: see __init__).
        places.update(zip(collected[start:stop], range(start, stop), strict=True))
        self.built = stop

    def _redo(self, stop: int) -> None:
        """Index ``collected[:stop]`` one entry at a time, keeping each nodeid's first place."""
        places: dict[str, int] = {}
        repeats: set[int] = set()
        for seq, nodeid in enumerate(self.collected[:stop]):
            if places.setdefault(nodeid, seq) != seq:
                repeats.add(seq)
        self._places, self.repeats = places, repeats

    def complete(self) -> None:
        """Index every entry."""
        self.advance(len(self.collected) - self.built)

    def get(self, nodeid: str) -> int | None:
        """``nodeid``'s first place, None if it was not collected (indexing as needed)."""
        place = self._places.get(nodeid)
        while place is None and not self.done:
            self.advance()
            place = self._places.get(nodeid)
        return place
