"""The item wire format: the Avro bytes of ``items`` records, laid out by hand because it is the hot path.

The ingestion SDK encodes validated batches with :class:`ItemEncoder`; the scorer's fast decoders read
the same layout (they check :data:`FAST_PATH_FINGERPRINT` before trusting it). Both import it from
here, so neither depends on the other.

fastavro's generic ``schemaless_writer`` costs several microseconds per item; producing costs about
two. This encoder writes the same bytes (tested byte for byte against fastavro) by concatenating
pre-encoded pieces: the constant header, cached length prefixes, cached source / unit-of-work
encodings, and each embedding as a slice of one ``tobytes()`` of the batch matrix.

It is written for one version of ``schemas/items.avsc`` (:data:`FAST_PATH_FINGERPRINT`). If the
schema changes, the encoder notices by fingerprint and falls back to fastavro, which is slower but
correct; a unit test fails so the fast path gets updated with the schema.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from alstream.streams.avro_bytes import avro_length as _length
from alstream.streams.avro_bytes import avro_string as _string
from alstream.streams.avro_bytes import zigzag_varint
from alstream.streams.codecs import RecordCodec, header_of
from alstream.streams.schemas import default_catalog, enum_symbols

# CRC-64-AVRO fingerprint of the items schema this encoder implements.
FAST_PATH_FINGERPRINT = "438a365ff71dce03"

_NULL = b"\x00"
_SOME = b"\x02"  # union branch 1, zigzag-encoded
# The ``unit_of_work`` enum's symbols in Avro order: a unit's code is its index.
UNIT_NAMES = enum_symbols("items", "UnitOfWork")
_UNITS = tuple(zigzag_varint(code) for code in range(len(UNIT_NAMES)))  # by Avro enum index


class ItemColumns(Protocol):
    """A validated batch of items, column by column (the ingestion SDK's ``PreparedBatch``)."""

    # Read-only members: a batch whose columns are narrower types (a list where a sequence will do)
    # still qualifies.
    @property
    def item_ids(self) -> list[str]: ...
    @property
    def sources(self) -> list[str]: ...
    @property
    def units(self) -> list[int]: ...  # index into UNIT_NAMES
    @property
    def parent_ids(self) -> list[str | None]: ...
    @property
    def embeddings(self) -> NDArray[Any]: ...  # (rows, dim) little-endian float32, C-contiguous
    @property
    def probability_matrix(self) -> NDArray[Any] | None: ...  # (rows, classes) float32
    @property
    def hardness(self) -> list[dict[str, Any] | None]: ...
    @property
    def uris(self) -> list[str | None]: ...
    @property
    def metadata(self) -> list[dict[str, str]]: ...
    @property
    def event_times(self) -> Sequence[int] | NDArray[Any]: ...  # epoch milliseconds

    def __len__(self) -> int: ...

    @property
    def probabilities(self) -> list[bytes | None]: ...

    @property
    def all_have_probabilities(self) -> bool: ...

    @property
    def none_has_probabilities(self) -> bool: ...


def _float(value: float | None) -> bytes:
    return _NULL if value is None else _SOME + struct.pack("<f", value)


def _hardness(value: dict[str, Any] | None) -> bytes:
    if value is None:
        return _NULL
    raw: bytes = value["object_hardness"]
    return (
        _SOME
        + _length(len(raw))
        + raw
        + _float(value.get("pixel_mean_uncertainty"))
        + _float(value.get("pixel_uncertain_fraction"))
    )


def _metadata(value: dict[str, str]) -> bytes:
    if not value:
        return _NULL
    parts = [zigzag_varint(len(value))]
    for key, text in value.items():
        parts.append(_string(key))
        parts.append(_string(text))
    parts.append(_NULL)
    return b"".join(parts)


def varint_matrix(values: Sequence[int] | NDArray[Any]) -> tuple[NDArray[Any], NDArray[Any]]:
    """Avro longs of a whole column at once (numpy): a (n, 10) byte matrix and each value's length."""
    signed = np.asarray(values, dtype=np.int64).reshape(-1)
    zigzag = (signed.astype(np.uint64) << np.uint64(1)) ^ (signed >> np.int64(63)).astype(np.uint64)
    groups = np.empty((len(signed), 10), dtype=np.uint8)
    rest = zigzag.copy()
    for j in range(10):
        groups[:, j] = (rest & np.uint64(0x7F)).astype(np.uint8)
        rest >>= np.uint64(7)
    # bytes needed: 1 + the position of the last non-zero 7-bit group
    nonzero = groups != 0
    last = np.where(nonzero.any(axis=1), 9 - np.argmax(nonzero[:, ::-1], axis=1), 0)
    groups |= ((np.arange(10)[None, :] < last[:, None]) * 0x80).astype(np.uint8)
    return groups, last + 1


def varints(values: Sequence[int] | NDArray[Any]) -> list[bytes]:
    """Avro longs for a whole column, e.g. every event_time of a batch."""
    if not len(values):
        return []
    groups, lengths = varint_matrix(values)
    flat = groups.tobytes()
    return [flat[i * 10 : i * 10 + k] for i, k in enumerate(lengths.tolist())]


@lru_cache(maxsize=32)
def _splitter(size: int, count: int) -> struct.Struct:
    """Cuts ``count`` records of ``size`` bytes out of one buffer in one C call (3x a slicing loop)."""
    return struct.Struct(f"{size}s" * count)


def _constant(raw: bytes, n: int) -> NDArray[Any]:
    return np.broadcast_to(np.frombuffer(raw, dtype=np.uint8), (n, len(raw)))


class ItemEncoder:
    """Encodes a validated batch (:class:`ItemColumns`) into record values (header + Avro body)."""

    def __init__(self, *, codec: RecordCodec) -> None:
        self._codec = codec
        self._header = header_of(codec)
        current = default_catalog().current("items").fingerprint.hex()
        self.fast = self._header is not None and current == FAST_PATH_FINGERPRINT

    def encode(self, batch: ItemColumns) -> list[bytes]:
        if not self.fast:
            return [self._codec.encode(record) for record in self.records(batch)]
        if not len(batch):
            return []
        if self._uniform(batch):
            return self._encode_uniform(batch)
        return self._encode_rows(batch)

    @staticmethod
    def _uniform(batch: ItemColumns) -> bool:
        """Every row shares source, unit and optional-field layout (the common producer case)."""
        n = len(batch)
        return (
            batch.sources.count(batch.sources[0]) == n
            and batch.units.count(batch.units[0]) == n
            and batch.parent_ids.count(None) == n
            and batch.hardness.count(None) == n
            and batch.uris.count(None) == n
            and (batch.all_have_probabilities or batch.none_has_probabilities)
            and all(not m for m in batch.metadata[:1])
            and batch.metadata.count(batch.metadata[0]) == n
        )

    def _encode_uniform(self, batch: ItemColumns) -> list[bytes]:
        """Everything between the id and the timestamp is built for the whole batch with numpy.

        When, in addition, every id has the same ASCII length and every timestamp the same varint
        length (uuid-like ids, current-era times), whole records have one size: they are built as
        one matrix and cut with slices, with no per-record Python work beyond the slice.
        """
        n = len(batch)
        embeddings = batch.embeddings.view(np.uint8).reshape(n, -1)
        pieces: list[NDArray[Any]] = [
            _constant(
                _string(batch.sources[0]) + _UNITS[batch.units[0]] + _NULL + _length(embeddings.shape[1]), n
            ),
            embeddings,
        ]
        if batch.none_has_probabilities:
            pieces.append(
                _constant(_NULL + _NULL + _NULL + _NULL, n)
            )  # probabilities, hardness, uri, metadata
        else:
            assert batch.probability_matrix is not None
            probabilities = (
                np.ascontiguousarray(batch.probability_matrix, dtype="<f4").view(np.uint8).reshape(n, -1)
            )
            width = probabilities.shape[1]
            pieces += [
                _constant(_SOME + _length(width), n),
                probabilities,
                _constant(_NULL + _NULL + _NULL, n),
            ]
        header = self._header
        assert header is not None
        time_groups, time_lengths = varint_matrix(batch.event_times)
        ids = batch.item_ids
        id_length = len(ids[0])
        joined = "".join(ids)
        time_length = int(time_lengths[0])
        if (
            len(joined) == n * id_length
            and joined.isascii()
            and min(map(len, ids)) == id_length
            and bool((time_lengths == time_length).all())
        ):
            id_matrix = np.frombuffer(joined.encode(), dtype=np.uint8).reshape(n, id_length)
            rows = np.concatenate(
                [_constant(header + _length(id_length), n), id_matrix, *pieces, time_groups[:, :time_length]],
                axis=1,
            )
            return list(_splitter(rows.shape[1], n).unpack(rows.data))  # the array's buffer: no copy
        flat_times = time_groups.tobytes()
        times = [flat_times[i * 10 : i * 10 + k] for i, k in enumerate(time_lengths.tolist())]
        middle = np.concatenate(pieces, axis=1)
        step = middle.shape[1]
        middle_bytes = middle.tobytes()
        values: list[bytes] = []
        append = values.append
        offset = 0
        for item_id, time_bytes in zip(ids, times, strict=False):
            id_bytes = item_id.encode()
            append(
                b"".join(
                    (
                        header,
                        _length(len(id_bytes)),
                        id_bytes,
                        middle_bytes[offset : offset + step],
                        time_bytes,
                    )
                )
            )
            offset += step
        return values

    def _encode_rows(self, batch: ItemColumns) -> list[bytes]:
        header = self._header
        assert header is not None
        dim_bytes = batch.embeddings.shape[1] * 4
        embedding_prefix = _length(dim_bytes)
        matrix = batch.embeddings.tobytes()
        times = varints(batch.event_times)
        sources: dict[str, bytes] = {}
        values: list[bytes] = []
        append = values.append
        for i, item_id in enumerate(batch.item_ids):
            source = batch.sources[i]
            source_bytes = sources.get(source)
            if source_bytes is None:
                source_bytes = sources[source] = _string(source)
            parent = batch.parent_ids[i]
            probabilities = batch.probabilities[i]
            hardness = batch.hardness[i]
            uri = batch.uris[i]
            metadata = batch.metadata[i]
            id_bytes = item_id.encode()
            append(
                b"".join(
                    (
                        header,
                        _length(len(id_bytes)),
                        id_bytes,
                        source_bytes,
                        _UNITS[batch.units[i]],
                        _NULL if parent is None else _SOME + _string(parent),
                        embedding_prefix,
                        matrix[i * dim_bytes : (i + 1) * dim_bytes],
                        _NULL
                        if probabilities is None
                        else _SOME + _length(len(probabilities)) + probabilities,
                        _NULL if hardness is None else _hardness(hardness),
                        _NULL if uri is None else _SOME + _string(uri),
                        _NULL if not metadata else _metadata(metadata),
                        times[i],
                    )
                )
            )
        return values

    @staticmethod
    def records(batch: ItemColumns) -> list[dict[str, Any]]:
        """The batch as dict records in the shape the Avro schema expects (the generic, slower path)."""
        dim_bytes = batch.embeddings.shape[1] * 4
        matrix = batch.embeddings.tobytes()
        return [
            {
                "item_id": item_id,
                "source": batch.sources[i],
                "unit_of_work": UNIT_NAMES[batch.units[i]],
                "parent_id": batch.parent_ids[i],
                "embedding": matrix[i * dim_bytes : (i + 1) * dim_bytes],
                "probabilities": batch.probabilities[i],
                "hardness": batch.hardness[i],
                "uri": batch.uris[i],
                "metadata": batch.metadata[i],
                "event_time": int(batch.event_times[i]),
            }
            for i, item_id in enumerate(batch.item_ids)
        ]
