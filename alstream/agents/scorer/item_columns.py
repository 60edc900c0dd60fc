"""Decode a whole batch of Item records at once into columns: the scorer's hot input path.

Decoding record by record in Python costs a few microseconds per item, more than everything else
the scorer does per item together. Records of one schema version differ only in the lengths of
their variable fields, so this decoder finds every field's position in every record of a batch
with a dozen numpy passes over the concatenated bytes (one pass per field, not per record), checks
the structure vectorised (every union branch, enum index and length prefix, and that the record
ends exactly where its last field ends), and slices out only what the scorer uses.

Records the vectorised pass does not cover (another schema version, a hardness summary, a length
prefix of three or more bytes, anything malformed) go through the per-record
:class:`~alstream.agents.scorer.item_decoding.FastItemDecoder`, which raises the codec's
``DecodeError`` family for bytes it refuses: a record decodes to the same values whichever path
reads it (tests compare both on valid and on corrupted records).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np

from alstream.agents.scorer.item_decoding import FastItemDecoder, read_long
from alstream.contracts.enums import UNITS_OF_WORK, WHOLE_ITEM
from alstream.contracts.times import to_ms
from alstream.streams.codecs import SINGLE_OBJECT_HEADER
from alstream.streams.exceptions import DecodeError, TruncatedRecord

# The longest event_time varint the vectorised pass accepts: 9 bytes hold 63 bits, every
# millisecond timestamp a producer can send. Longer (valid but odd) varints take the per-record path.
_MAX_TAIL = 9
_TAIL_COLUMNS = np.arange(_MAX_TAIL)
_TAIL_SHIFTS = (7 * _TAIL_COLUMNS).astype(np.uint64)
_HEADER_COLUMNS = np.arange(SINGLE_OBJECT_HEADER)
_UNIT_NAMES = np.array(UNITS_OF_WORK, dtype=object)


def _utf8_or_none(raw: bytes) -> str | None:
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return None


@dataclass
class ItemColumns:
    """One batch of decoded items as parallel columns (row ``i`` is input record ``i``).

    ``errors`` maps the rows that could not be decoded to their error; their entries in the other
    columns are placeholders. ``embeddings`` and ``probabilities`` hold the packed float32 bytes.
    Sources are kept only as their UTF-8 sizes (the item contract needs no more of them), item ids
    also as theirs, so the id-length rule measures characters only where bytes exceed the limit.
    """

    item_ids: list[str]
    units: list[str]
    embeddings: list[bytes]
    probabilities: list[bytes | None]
    hardness: list[dict[str, Any] | None]
    uris: list[str | None]
    metadata: list[dict[str, str]]
    parent_ids: list[str | None]
    id_bytes: np.ndarray  # int64: UTF-8 size of each item_id
    source_bytes: np.ndarray  # int64: UTF-8 size of each source
    event_times: np.ndarray  # int64: epoch milliseconds
    errors: dict[int, DecodeError] = field(default_factory=dict)

    @classmethod
    def empty(cls, n: int) -> ItemColumns:
        return cls(
            item_ids=[""] * n,
            units=[WHOLE_ITEM] * n,
            embeddings=[b""] * n,
            probabilities=[None] * n,
            hardness=[None] * n,
            uris=[None] * n,
            metadata=[{}] * n,  # shared empty dicts: rows never mutate them
            parent_ids=[None] * n,
            id_bytes=np.ones(n, dtype=np.int64),
            source_bytes=np.ones(n, dtype=np.int64),
            event_times=np.zeros(n, dtype=np.int64),
        )

    def set_row(self, i: int, record: dict[str, Any]) -> None:
        self.item_ids[i] = record["item_id"]
        self.units[i] = record["unit_of_work"]
        self.embeddings[i] = record["embedding"]
        self.probabilities[i] = record["probabilities"]
        self.hardness[i] = record["hardness"]
        self.uris[i] = record["uri"]
        self.metadata[i] = record["metadata"]
        self.parent_ids[i] = record["parent_id"]
        self.id_bytes[i] = len(record["item_id"].encode())
        self.source_bytes[i] = len(record["source"].encode())
        self.event_times[i] = to_ms(record["event_time"])

    def clear_row(self, i: int) -> None:
        """Placeholders in row ``i`` (an undecodable record) that every rule can read without failing."""
        self.set_row(
            i,
            {
                "item_id": "-",
                "source": "-",
                "unit_of_work": WHOLE_ITEM,
                "parent_id": None,
                "embedding": b"",
                "probabilities": None,
                "hardness": None,
                "uri": None,
                "metadata": {},
                "event_time": 0,
            },
        )

    def take(self, rows: list[int]) -> ItemColumns:
        """The columns of ``rows`` only, in that order (errors are not carried over)."""
        index = np.asarray(rows, dtype=np.int64)
        return ItemColumns(
            item_ids=[self.item_ids[i] for i in rows],
            units=[self.units[i] for i in rows],
            embeddings=[self.embeddings[i] for i in rows],
            probabilities=[self.probabilities[i] for i in rows],
            hardness=[self.hardness[i] for i in rows],
            uris=[self.uris[i] for i in rows],
            metadata=[self.metadata[i] for i in rows],
            parent_ids=[self.parent_ids[i] for i in rows],
            id_bytes=self.id_bytes[index],
            source_bytes=self.source_bytes[index],
            event_times=self.event_times[index],
        )

    def row(self, i: int) -> dict[str, Any]:
        """Row ``i`` as the dict the per-record decoder returns (without ``source``, of which only the
        size is kept)."""
        return {
            "item_id": self.item_ids[i],
            "unit_of_work": self.units[i],
            "parent_id": self.parent_ids[i],
            "embedding": self.embeddings[i],
            "probabilities": self.probabilities[i],
            "hardness": self.hardness[i],
            "uri": self.uris[i],
            "metadata": self.metadata[i],
            "event_time": int(self.event_times[i]),
        }


class BatchItemDecoder:
    """Decodes batches of Item values like ``row_decoder.decode`` per value, vectorised.

    ``row_decoder`` reads the records the vectorised pass does not cover. The vectorised pass runs
    only with a :class:`FastItemDecoder` whose schema version is the pinned one; with any other
    decoder (e.g. the Confluent wire-format codec) every record is read per record.
    """

    def __init__(self, *, row_decoder: Any) -> None:
        self.row_decoder = row_decoder
        header = row_decoder.header if isinstance(row_decoder, FastItemDecoder) else None
        self._header = None if header is None else np.frombuffer(header, dtype=np.uint8)

    def decode_batch(self, values: list[bytes | None]) -> ItemColumns:
        n = len(values)
        columns = ItemColumns.empty(n)
        if n == 0:
            return columns
        present = [b"" if v is None else v for v in values] if None in values else cast("list[bytes]", values)
        fast = self._vectorised(present, columns) if self._header is not None else np.zeros(n, dtype=bool)
        for i in np.flatnonzero(~fast).tolist():
            value = values[i]
            try:
                if value is None:
                    raise TruncatedRecord("item record has no value (a tombstone)")
                columns.set_row(i, self.row_decoder.decode(value))
            except DecodeError as exc:
                columns.errors[i] = exc
                columns.clear_row(i)
        return columns

    def _vectorised(self, values: list[bytes], columns: ItemColumns) -> np.ndarray:
        """Fill ``columns`` for every record the vectorised pass covers; return that row mask."""
        n = len(values)
        lengths = np.fromiter(map(len, values), dtype=np.int64, count=n)
        ends = np.cumsum(lengths)
        starts = ends - lengths
        joined = b"".join(values)
        if not joined:
            return np.zeros(n, dtype=bool)
        data = np.frombuffer(joined, dtype=np.uint8)
        last = len(data) - 1

        def byte_at(pos: np.ndarray) -> np.ndarray:
            # Clipped: a position past the data can only come from a record the checks below refuse.
            return data[np.minimum(pos, last)].astype(np.int64)

        def length_at(pos: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            """A one- or two-byte non-negative Avro length at ``pos``: (data start, length, ok)."""
            b0 = byte_at(pos)
            b1 = byte_at(pos + 1)
            one = b0 < 0x80
            raw = np.where(one, b0, (b0 & 0x7F) | (b1 << 7))
            ok = (one | (b1 < 0x80)) & ((raw & 1) == 0)
            return pos + 2 - one, raw >> 1, ok

        header = data[np.minimum(starts[:, None] + _HEADER_COLUMNS, last)] == self._header
        ok = (lengths > SINGLE_OBJECT_HEADER) & header.all(axis=1)

        id_start, id_len, good = length_at(starts + SINGLE_OBJECT_HEADER)
        ok &= good
        source_start, source_len, good = length_at(id_start + id_len)
        ok &= good
        pos = source_start + source_len
        unit = byte_at(pos)
        ok &= ((unit & 1) == 0) & (unit < 2 * len(UNITS_OF_WORK))
        branch = byte_at(pos + 1)  # parent_id: null or string (the scorer does not use it)
        ok &= (branch == 0) | (branch == 2)
        parent_start, parent_len, good = length_at(pos + 2)
        has_parent = branch == 2
        ok &= good | ~has_parent
        pos = np.where(has_parent, parent_start + parent_len, pos + 2)
        emb_start, emb_len, good = length_at(pos)
        ok &= good
        pos = emb_start + emb_len
        branch = byte_at(pos)
        ok &= (branch == 0) | (branch == 2)
        has_probs = branch == 2
        probs_start, probs_len, good = length_at(pos + 1)
        ok &= good | ~has_probs
        pos = np.where(has_probs, probs_start + probs_len, pos + 1)
        ok &= byte_at(pos) == 0  # hardness summaries are rare: the per-record path reads them
        branch = byte_at(pos + 1)
        ok &= (branch == 0) | (branch == 2)
        has_uri = branch == 2
        uri_start, uri_len, good = length_at(pos + 2)
        ok &= good | ~has_uri
        pos = np.where(has_uri, uri_start + uri_len, pos + 2)
        empty_metadata = byte_at(pos) == 0
        # event_time, after an empty metadata map: a varint that ends exactly at the record's end
        tail_start = pos + 1
        tail_len = ends - tail_start
        tail_bytes = data[np.minimum(tail_start[:, None] + _TAIL_COLUMNS, last)]
        tail = tail_bytes >= 0x80
        inside = tail_len[:, None] > _TAIL_COLUMNS
        continues = tail_len[:, None] - 1 > _TAIL_COLUMNS
        tail_ok = (tail_len >= 1) & (tail_len <= _MAX_TAIL) & ((tail == continues) | ~inside).all(axis=1)
        # its value: the 7-bit groups of the varint's bytes ORed in place, column by column, unzigzagged
        groups = ((tail_bytes & 0x7F) * inside).astype(np.uint64)
        zigzag = groups[:, 0].copy()
        for column in range(1, _MAX_TAIL):
            zigzag |= groups[:, column] << _TAIL_SHIFTS[column]
        event_times = (zigzag >> np.uint64(1)).view(np.int64) ^ -(zigzag & np.uint64(1)).view(np.int64)
        # Rows with metadata: everything up to the map was checked here; the map and event_time are
        # read per record below. Any field running past the record makes pos >= end: refused.
        ok &= pos < ends
        ok &= np.where(empty_metadata, tail_ok, True)

        rows = np.flatnonzero(ok)
        if not rows.size:
            return ok
        every = rows.size == n  # the common case: then the columns are built whole, not scattered

        def spans(start: np.ndarray, length: np.ndarray) -> zip[tuple[int, int]]:
            first = start if every else start[rows]
            return zip(first.tolist(), (first + (length if every else length[rows])).tolist(), strict=True)

        item_ids: list[str | None]  # None marks an id that is not UTF-8: that row is refused below
        try:
            item_ids = [joined[x:y].decode() for x, y in spans(id_start, id_len)]
        except UnicodeDecodeError:
            item_ids = [_utf8_or_none(joined[x:y]) for x, y in spans(id_start, id_len)]
        sources = [joined[x:y] for x, y in spans(source_start, source_len)]
        undecodable = {raw for raw in set(sources) if _utf8_or_none(raw) is None}  # few distinct sources
        embeddings = [joined[x:y] for x, y in spans(emb_start, emb_len)]
        units = _UNIT_NAMES[(unit if every else unit[rows]) >> 1].tolist()
        if every:
            columns.item_ids = item_ids  # type: ignore[assignment]
            columns.embeddings, columns.units = embeddings, units
            columns.id_bytes, columns.source_bytes, columns.event_times = id_len, source_len, event_times
        else:
            for j, i in enumerate(rows.tolist()):
                columns.item_ids[i] = item_ids[j]  # type: ignore[assignment]
                columns.embeddings[i] = embeddings[j]
                columns.units[i] = units[j]
            columns.id_bytes[rows] = id_len[rows]
            columns.source_bytes[rows] = source_len[rows]
            columns.event_times[rows] = event_times[rows]
        if undecodable or None in item_ids:
            for j, i in enumerate(rows.tolist()):
                if item_ids[j] is None or sources[j] in undecodable:
                    ok[i] = False  # the per-record path raises the codec's error for it
        for i in np.flatnonzero(ok & has_probs).tolist():
            columns.probabilities[i] = joined[int(probs_start[i]) : int(probs_start[i] + probs_len[i])]
        for i in np.flatnonzero(ok & has_parent).tolist():
            columns.parent_ids[i] = _utf8_or_none(
                joined[int(parent_start[i]) : int(parent_start[i] + parent_len[i])]
            )
            ok[i] = columns.parent_ids[i] is not None
        for i in np.flatnonzero(ok & has_uri).tolist():
            columns.uris[i] = _utf8_or_none(joined[int(uri_start[i]) : int(uri_start[i] + uri_len[i])])
            ok[i] = columns.uris[i] is not None
        for i in np.flatnonzero(ok & ~empty_metadata).tolist():
            parsed = self._read_tail(joined[int(pos[i]) : int(ends[i])])
            if parsed is None:
                ok[i] = False
            else:
                columns.metadata[i], columns.event_times[i] = parsed
        return ok

    @staticmethod
    def _read_tail(tail: bytes) -> tuple[dict[str, str], int] | None:
        """A record's metadata map and event_time (``tail`` is exactly those bytes); None if malformed."""
        try:
            values: dict[str, str] = {}
            pos = FastItemDecoder.read_map(tail, 0, values)
            event_time, pos = read_long(tail, pos)
        except (IndexError, UnicodeDecodeError, DecodeError):
            return None
        return (values, event_time) if pos == len(tail) else None
