"""The fixed random slice: a salted hash of item_id decides membership, forever.

Membership must not depend on the process, the machine, the Python version or the release, so it
uses BLAKE2b (a fixed, standardised function) over ``salt || 0x00 || item_id`` in UTF-8, never
Python's randomised ``hash()``. The first 8 bytes, read big-endian as an unsigned integer and
divided by 2**64, give a uniform number in [0, 1); an item is in the slice when that number is
below the fraction. Changing the salt (or the fraction) is a policy change: it redraws the slice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np

_TWO_64 = float(2**64)


def slice_position(item_id: str, *, salt: str) -> float:
    """Where ``item_id`` falls in [0, 1) for ``salt``; the same everywhere and forever."""
    digest = hashlib.blake2b(salt.encode() + b"\x00" + item_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _TWO_64


def slice_positions(item_ids: Iterable[str], *, salt: str) -> np.ndarray:
    """Vectorised :func:`slice_position`: one float64 in [0, 1) per id."""
    prefix = hashlib.blake2b(salt.encode() + b"\x00", digest_size=8)
    raw = bytearray()
    for item_id in item_ids:
        h = prefix.copy()
        h.update(item_id.encode())
        raw += h.digest()
    as_int = np.frombuffer(bytes(raw), dtype=">u8")
    return as_int.astype(np.float64) / _TWO_64


def in_random_slice(item_ids: Iterable[str], *, fraction: float, salt: str) -> np.ndarray:
    """Boolean mask: which items belong to the fixed random slice of ``fraction`` under ``salt``."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"random slice fraction must be within [0, 1], got {fraction}")
    return slice_positions(item_ids, salt=salt) < fraction
