"""Data a test hands pytest that xdist cannot send (part of the ``hang`` extension).

execnet encodes every string as UTF-8, so a lone surrogate (``"\\udcff"``, e.g. from
``os.fsdecode`` of a bad file name) in a warning message makes the worker fail with an
INTERNALERROR and the whole run abort (exit 3). Reports are cleaned by the emitter's
``pytest_report_to_serializable`` wrapper; warnings travel on their own, so they are cleaned
here, on the worker, before xdist serializes them.
"""

from __future__ import annotations

import contextlib
import warnings

import pytest

from hotlap.plugin.text import clean, clean_tree


def _unencodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


class WarningSanitizer:
    """Escapes lone surrogates in a recorded warning before xdist sends it."""

    @pytest.hookimpl(tryfirst=True)
    def pytest_warning_recorded(self, warning_message: warnings.WarningMessage) -> None:
        message = warning_message.message
        if isinstance(message, Warning):
            if _unencodable(str(message)):
                with contextlib.suppress(Exception):
                    message.args = clean_tree(message.args)
        elif isinstance(message, str) and _unencodable(message):
            warning_message.message = clean(message)
        for attr in ("filename", "line", "source"):
            value = getattr(warning_message, attr, None)
            if isinstance(value, str) and _unencodable(value):
                setattr(warning_message, attr, clean(value))
