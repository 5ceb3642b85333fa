"""The ``pytest -vv`` explanation of a failed ``==``, whatever the run's verbosity.

pytest explains a failed ``assert left == right`` with its ``pytest_assertrepr_compare``
hook; at the default verbosity it shortens both reprs and the diff ("Use -v to get more
diff"). The dashboard shows the full diff of a failure without rerunning it, so this
hook implementation asks pytest's own implementation again with the assertion verbosity at
2 (and no colours), sends the lines as an :class:`~hotlap.protocol.AssertDiff` and returns
None: the message pytest prints is the one it would have printed.

Off the hot path: a rewritten ``assert`` calls the hook only in its failure branch, so a
passing test never runs any of this. A failing comparison pays for the second explanation
(what ``-vv`` would cost it), except for sides with more than :data:`MAX_ITEMS` items.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest

from hotlap.plugin.sink import Sink
from hotlap.plugin.text import bounded, clean
from hotlap.protocol import AssertDiff
from hotlap.real import real

#: Sides longer than this (items, characters) are not explained again: pytest's diff of
#: them could take seconds, and the dashboard would show only the start of it.
MAX_ITEMS = 50_000


class _PlainWriter:
    """A terminal writer that highlights nothing: the explanation travels as plain text."""

    def _highlight(self, source: str, lexer: str = "python") -> str:
        return source


class _VerboseConfig:
    """``config`` as pytest's assertion helpers read it, with the verbosity at 2."""

    def __init__(self, config: pytest.Config) -> None:
        self._config = config

    def __getattr__(self, name: str) -> Any:
        return getattr(self._config, name)

    def get_verbosity(self, verbosity_type: str | None = None) -> int:
        return 2

    def get_terminal_writer(self) -> _PlainWriter:
        return _PlainWriter()


def _too_big(value: object) -> bool:
    try:
        return len(value) > MAX_ITEMS  # type: ignore[arg-type]
    except Exception:  # no len(), or a len() that raises
        return False


def _builtin_explanation() -> Callable[..., Any] | None:
    try:
        from _pytest.assertion import pytest_assertrepr_compare
    except ImportError:  # pragma: no cover - pytest moved it
        return None
    explain: Callable[..., Any] = pytest_assertrepr_compare
    return explain


class AssertionExplainer:
    """Sends the ``-vv`` explanation of each failed ``==`` of the running test."""

    def __init__(self, sink: Sink, worker: str, current: Callable[[], str]) -> None:
        self.sink = sink
        self.worker = worker
        self.pid = os.getpid()
        self._current = current
        self._explain = _builtin_explanation()

    def pytest_assertrepr_compare(
        self, config: pytest.Config, op: str, left: object, right: object
    ) -> None:
        nodeid = self._current()
        if op != "==" or not nodeid or self._explain is None:
            return
        if _too_big(left) or _too_big(right):
            return
        try:
            lines = self._explain(config=_VerboseConfig(config), op=op, left=left, right=right)
            text = "\n".join(str(line) for line in lines) if lines else ""
        except Exception:  # a faulty __repr__, a pytest that reads config differently
            return
        if text:
            self.sink.send(
                AssertDiff(
                    self.worker,
                    self.pid,
                    real.monotonic(),
                    nodeid=clean(nodeid),
                    explanation=bounded(text),
                )
            )
