"""pytest's ``-vv`` explanation of a failed ``==``, read as a diff to colour (pure, no
Textual).

pytest writes it as ``left == right`` (the full reprs), a blank line, then its own lines:
headings ("Differing items:", "Full diff: …"), ``difflib.ndiff`` lines (``- `` the right
side, ``+ `` the left side, ``  `` both) and ndiff's ``? `` hint lines under a changed line,
whose ``^``, ``-`` and ``+`` sit under the characters that differ. A nested explanation
(a dataclass's attribute) is the same, indented.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: What a line is: the summary, a heading or context, a line of the right or the left side.
SUMMARY, TEXT, RIGHT, LEFT = "summary", "text", "right", "left"


@dataclass
class DiffLine:
    """One line to show, and the positions of its characters that differ."""

    text: str
    kind: str
    changed: list[int] = field(default_factory=list)


def diff_lines(explanation: str) -> list[DiffLine]:
    """The lines of ``explanation``, the hint lines folded into the lines they mark."""
    out: list[DiffLine] = []
    for i, line in enumerate(explanation.split("\n")):
        if i == 0:
            out.append(DiffLine(line, SUMMARY))
            continue
        body = line.lstrip(" ")
        indent = len(line) - len(body)
        marker = body[:2]
        if marker in ("? ", "?") and out and out[-1].kind in (LEFT, RIGHT):
            prev = out[-1]
            prev.changed += [
                j
                for j, ch in enumerate(line)
                if j > indent + 1 and ch in "^+-" and j < len(prev.text)
            ]
            continue
        if marker in ("- ", "-"):
            out.append(DiffLine(line, RIGHT))
        elif marker in ("+ ", "+"):
            out.append(DiffLine(line, LEFT))
        else:
            out.append(DiffLine(line, TEXT))
    return out


def shows_diff(message: str, explanation: str) -> bool:
    """Whether a failure with ``message`` is the failed assertion ``explanation`` explains
    (a test may have caught an earlier failed assertion, then failed otherwise)."""
    if not explanation:
        return False
    return not message or message.startswith(("assert ", "AssertionError"))
