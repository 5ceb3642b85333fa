"""Pure helpers for the dashboard: number formats, sparklines, the ETA, the editor command.

Nothing here imports Textual, so the helpers are unit-tested without an app.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping

from hotlap.model.run_state import RunState

SPARK = "▁▂▃▄▅▆▇█"
# Eighth blocks for a horizontal bar that moves smoothly.
_EIGHTHS = " ▏▎▍▌▋▊▉█"


def fmt_seconds(seconds: float) -> str:
    """At most five characters: ``0.04s``, ``1.23s``, ``12.3s``, ``2m05s``, ``42m``, ``1h02m``."""
    if seconds < 0:
        seconds = 0.0
    if seconds < 10:
        return f"{seconds:.2f}s"
    if seconds < 60:
        return f"{seconds:.1f}s"
    if seconds < 600:
        minutes, secs = divmod(int(seconds), 60)
        return f"{minutes}m{secs:02d}s"
    if seconds < 3600:
        return f"{int(seconds) // 60}m"
    hours, rest = divmod(int(seconds), 3600)
    return f"{hours}h{rest // 60:02d}m"


def fmt_bytes(n: float) -> str:
    """Bytes as ``512 KB``, ``45 MB``, ``3.1 GB`` (powers of 1024)."""
    sign = "-" if n < 0 else ""
    n = abs(n)
    for unit in ("B", "KB", "MB"):
        if n < 1024:
            return f"{sign}{n:.0f} {unit}"
        n /= 1024
    return f"{sign}{n:.1f} GB"


def fmt_delta_bytes(n: int) -> str:
    """An RSS change with its sign (``+12 MB``); empty for zero."""
    if n == 0:
        return ""
    return ("+" if n > 0 else "") + fmt_bytes(n)


def sparkline(
    values: Iterable[float], width: int, top: float | None = None, bottom: float = 0.0
) -> str:
    """The last ``width`` values as block characters, scaled from ``bottom`` to ``top``
    (default: their max)."""
    vals = list(values)[-width:] if width > 0 else []
    if not vals:
        return ""
    hi = (top if top is not None else max(vals)) - bottom
    if hi <= 0:
        return SPARK[0] * len(vals)
    last = len(SPARK) - 1
    return "".join(SPARK[max(0, min(last, round((v - bottom) / hi * last)))] for v in vals)


def growth_sparkline(values: Iterable[float], width: int) -> str:
    """A sparkline that shows growth: scaled over the range seen (at least 10% of the max),
    so a flat memory line stays low instead of a wall of full blocks."""
    vals = list(values)[-width:] if width > 0 else []
    if not vals:
        return ""
    hi, lo = max(vals), min(vals)
    span = max(hi - lo, hi * 0.1, 1e-9)
    return sparkline(vals, width, top=lo + span, bottom=lo)


def hbar(fraction: float, width: int) -> tuple[str, str]:
    """A bar ``width`` cells wide: (filled part, empty part) so each can have its colour."""
    fraction = max(0.0, min(1.0, fraction))
    eighths = round(fraction * width * 8)
    full, part = divmod(eighths, 8)
    filled = "█" * full + (_EIGHTHS[part] if part and full < width else "")
    return filled, " " * (width - len(filled))


def ellipsize_left(text: str, width: int) -> str:
    """Keep the end of ``text`` (a test's name matters more than its directory)."""
    if width <= 0:
        return ""
    if len(text) <= width:
        return text
    return "…" + text[len(text) - width + 1 :] if width > 1 else "…"


def eta_seconds(
    state: RunState, expected: Mapping[str, float], workers: int, now: float
) -> float | None:
    """Seconds left: expected time of the tests not finished yet, spread over ``workers``.

    A running test counts only for what is left of its expected time. None when nothing is
    known (no history) or the run is over.
    """
    if not expected or state.session.finished is not None:
        return None
    tests = state.tests
    nodeids: Iterable[str] = state.collected or expected.keys()
    left = 0.0
    known = False
    for nodeid in nodeids:
        exp = expected.get(nodeid)
        if exp is None:
            continue
        known = True
        rec = tests.get(nodeid)
        if rec is None:
            left += exp
        elif rec.finished is None and rec.started is not None:
            left += max(0.0, exp - (now - rec.started))
    if not known:
        return None
    return left / max(1, workers)


def editor_command(env: Mapping[str, str], path: str, line: int) -> list[str] | None:
    """The argv that opens ``path`` at ``line`` in ``$VISUAL`` or ``$EDITOR`` (None if unset).

    ``+LINE FILE`` is understood by vi, vim, nvim, nano, emacs, micro, kak and code's
    ``-g``-less CLI wrappers; an editor string with arguments ("code --wait") is split like a
    shell would.
    """
    editor = env.get("VISUAL") or env.get("EDITOR")
    if not editor:
        return None
    try:
        argv = shlex.split(editor)
    except ValueError:
        argv = editor.split()
    if not argv:
        return None
    return [*argv, f"+{line}", path] if line > 0 else [*argv, path]
