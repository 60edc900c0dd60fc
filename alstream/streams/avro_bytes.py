"""Avro binary primitives shared by the hand-written fast encoders (items, scores).

Both encoders must write exactly what fastavro writes; keeping the primitives in one place keeps
them identical. The length table makes the common case (strings / bytes shorter than 4096 bytes)
a list lookup, which is what the per-record loops use.
"""

from __future__ import annotations

__all__ = ["AVRO_LENGTHS", "avro_length", "avro_string", "zigzag_varint"]


def zigzag_varint(value: int) -> bytes:
    """Avro ``long`` (and ``int``): zigzag, then base-128 varint, least significant group first."""
    n = (value << 1) ^ (value >> 63)
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


# Length prefixes of 0 .. 4095 bytes, precomputed: index it directly in hot loops when n is known small.
AVRO_LENGTHS: list[bytes] = [zigzag_varint(i) for i in range(4096)]


def avro_length(n: int) -> bytes:
    """The length prefix of a ``string`` / ``bytes`` / array block of ``n`` bytes or entries."""
    return AVRO_LENGTHS[n] if n < 4096 else zigzag_varint(n)


def avro_string(text: str) -> bytes:
    """An Avro ``string``: its UTF-8 length prefix, then the UTF-8 bytes."""
    raw = text.encode()
    return avro_length(len(raw)) + raw
