"""blake2b, the hash of impact data, without importing :mod:`hashlib`.

``hashlib.blake2b`` is ``_blake2.blake2b``, but importing hashlib loads OpenSSL for the
other hashes: 2 ms of each ``hotlap affected`` (measured with ``python -X importtime``).
"""

from __future__ import annotations

__all__ = ["blake2b"]

try:
    from _blake2 import blake2b
except ImportError:  # pragma: no cover - an interpreter without the module
    from hashlib import blake2b
