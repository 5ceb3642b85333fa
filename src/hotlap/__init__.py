"""hotlap: a live dashboard for pytest-xdist runs.

Importing this package must stay cheap: it must not import pytest plugins or Textual.
"""

from __future__ import annotations

__version__ = "0.1.0"
