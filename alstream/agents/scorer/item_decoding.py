"""A per-record decoder for Item records written with the current schema.

fastavro's generic reader builds every field through its schema interpreter, too slow for the scorer's input
rate (``bench/bench_scorer.py``); this reads the same bytes with a hand-written parser for one version of the
``items`` schema, the one the ingest encoder also implements
(:data:`alstream.streams.item_wire.FAST_PATH_FINGERPRINT`). The scorer's batches go through
:mod:`alstream.agents.scorer.item_columns`, which decodes whole batches vectorised and hands this decoder only
the records its pass does not cover.

Records written with another schema version (another fingerprint) go through the generic codec, so
schema evolution keeps working; if ``schemas/items.avsc`` changes, the codec's current fingerprint
no longer matches the pin and every record goes through the generic codec. Malformed bytes raise
the same ``DecodeError`` family as the codec; tests check both decoders agree on valid and on
corrupted records.
"""

from __future__ import annotations

import struct
from typing import Any

from alstream.contracts.enums import UNITS_OF_WORK
from alstream.streams.codecs import SINGLE_OBJECT_HEADER, SingleObjectCodec
from alstream.streams.exceptions import SchemaMismatch, TruncatedRecord
from alstream.streams.item_wire import FAST_PATH_FINGERPRINT

_unpack_f = struct.Struct("<f").unpack_from


def read_long(buf: bytes, pos: int) -> tuple[int, int]:
    b = buf[pos]
    pos += 1
    n = b & 0x7F
    shift = 7
    while b & 0x80:
        b = buf[pos]
        pos += 1
        n |= (b & 0x7F) << shift
        shift += 7
    return (n >> 1) ^ -(n & 1), pos


def _bytes(buf: bytes, pos: int) -> tuple[bytes, int]:
    b = buf[pos]
    if b < 0x80:  # one-byte length (< 64 bytes): the common case for ids and names
        size = (b >> 1) ^ -(b & 1)
        pos += 1
    else:
        size, pos = read_long(buf, pos)
    end = pos + size
    if size < 0 or end > len(buf):
        raise TruncatedRecord("a string or bytes field runs past the end of the record")
    return buf[pos:end], end


def _string(buf: bytes, pos: int) -> tuple[str, int]:
    raw, pos = _bytes(buf, pos)
    return raw.decode(), pos


def _optional_float(buf: bytes, pos: int) -> tuple[float | None, int]:
    branch = buf[pos]
    if branch == 0:
        return None, pos + 1
    if branch != 2 or pos + 5 > len(buf):
        raise SchemaMismatch("bad union branch for an optional float")
    return _unpack_f(buf, pos + 1)[0], pos + 5


class FastItemDecoder:
    """Decodes Item records like ``SingleObjectCodec('items', raw_timestamps=True)``, faster."""

    def __init__(self, *, codec: SingleObjectCodec) -> None:
        self.codec = codec
        # The parser below reads exactly the pinned schema version: with any other current schema
        # no header matches (None) and every record goes through the generic codec.
        self.header = codec.header if codec.header[2:].hex() == FAST_PATH_FINGERPRINT else None

    def decode(self, data: bytes) -> dict[str, Any]:
        if data[:SINGLE_OBJECT_HEADER] != self.header:
            return self.codec.decode(data)
        try:
            return self._parse(data)
        except IndexError as exc:
            raise TruncatedRecord("item record ends early") from exc
        except (UnicodeDecodeError, ValueError, struct.error) as exc:
            raise SchemaMismatch(f"item record body is malformed: {type(exc).__name__}: {exc}") from exc

    def _parse(self, buf: bytes) -> dict[str, Any]:
        pos = SINGLE_OBJECT_HEADER
        size = buf[pos]
        if size < 0x80 and not size & 1:  # inline fast path: short item_id (< 64 bytes)
            end = pos + 1 + (size >> 1)
            if end > len(buf):
                raise TruncatedRecord("item_id runs past the end of the record")
            item_id = buf[pos + 1 : end].decode()
            pos = end
        else:
            item_id, pos = _string(buf, pos)
        size = buf[pos]
        if size < 0x80 and not size & 1:  # short source
            end = pos + 1 + (size >> 1)
            if end > len(buf):
                raise TruncatedRecord("source runs past the end of the record")
            source = buf[pos + 1 : end].decode()
            pos = end
        else:
            source, pos = _string(buf, pos)
        unit = buf[pos]
        if unit >= 2 * len(UNITS_OF_WORK) or unit & 1:
            raise SchemaMismatch(f"unit_of_work enum index byte {unit} out of range")
        unit >>= 1
        pos += 1
        branch = buf[pos]
        pos += 1
        if branch == 0:
            parent_id = None
        elif branch == 2:
            parent_id, pos = _string(buf, pos)
        else:
            raise SchemaMismatch("bad union branch for parent_id")
        b0 = buf[pos]
        b1 = buf[pos + 1]
        if b0 & 0x80 and not b1 & 0x80 and not b0 & 1:  # inline: two-byte length (64-8191 bytes)
            end = pos + 2 + (((b0 & 0x7F) | (b1 << 7)) >> 1)
            if end > len(buf):
                raise TruncatedRecord("embedding runs past the end of the record")
            embedding = buf[pos + 2 : end]
            pos = end
        else:
            embedding, pos = _bytes(buf, pos)
        branch = buf[pos]
        pos += 1
        if branch == 0:
            probabilities = None
        elif branch == 2:
            probabilities, pos = _bytes(buf, pos)
        else:
            raise SchemaMismatch("bad union branch for probabilities")
        branch = buf[pos]
        pos += 1
        if branch == 0:
            hardness = None
        elif branch == 2:
            objects, pos = _bytes(buf, pos)
            mean_unc, pos = _optional_float(buf, pos)
            frac, pos = _optional_float(buf, pos)
            hardness = {
                "object_hardness": objects,
                "pixel_mean_uncertainty": mean_unc,
                "pixel_uncertain_fraction": frac,
            }
        else:
            raise SchemaMismatch("bad union branch for hardness")
        branch = buf[pos]
        pos += 1
        if branch == 0:
            uri = None
        elif branch == 2:
            uri, pos = _string(buf, pos)
        else:
            raise SchemaMismatch("bad union branch for uri")
        metadata: dict[str, str] = {}
        if buf[pos] == 0:  # empty map: the common case
            pos += 1
        else:
            pos = self.read_map(buf, pos, metadata)
        event_time, pos = read_long(buf, pos)
        if pos != len(buf):
            raise SchemaMismatch(f"{len(buf) - pos} trailing bytes after the record body")
        return {
            "item_id": item_id,
            "source": source,
            "unit_of_work": UNITS_OF_WORK[unit],
            "parent_id": parent_id,
            "embedding": embedding,
            "probabilities": probabilities,
            "hardness": hardness,
            "uri": uri,
            "metadata": metadata,
            "event_time": event_time,
        }

    @staticmethod
    def read_map(buf: bytes, pos: int, metadata: dict[str, str]) -> int:
        while True:
            count, pos = read_long(buf, pos)
            if count == 0:
                break
            if count < 0:  # a block with its byte size
                count = -count
                _, pos = read_long(buf, pos)
            for _ in range(count):
                key, pos = _string(buf, pos)
                metadata[key], pos = _string(buf, pos)
        return pos
