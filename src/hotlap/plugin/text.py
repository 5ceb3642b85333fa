"""Making test output safe to ship: valid UTF-8, bounded size."""

from __future__ import annotations

from typing import Any

#: Most characters of one captured stream or traceback we ship per phase.
MAX_TEXT = 64 * 1024
TRUNCATED = "\n[… hotlap truncated {n} characters …]\n"


def clean(text: str) -> str:
    """``text`` with lone surrogates (unencodable as UTF-8) replaced by ``\\udXXX`` escapes."""
    if text.isascii():  # the common case, read from the string's header
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def bounded(text: str, limit: int = MAX_TEXT) -> str:
    """``clean(text)``, keeping its head and tail around a marker when it is over ``limit``."""
    if len(text) > limit:
        half = limit // 2
        cut = len(text) - 2 * half
        text = text[:half] + TRUNCATED.format(n=cut) + text[-half:]
    return clean(text)


def clean_tree(value: Any) -> Any:
    """Clean every string inside nested dicts, lists and tuples (report serialization)."""
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, dict):
        return {clean_tree(k): clean_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clean_tree(v) for v in value]
    if isinstance(value, tuple):
        return tuple(clean_tree(v) for v in value)
    return value
