"""A fast, byte-exact Avro encoder for Score records: the scorer's hot output path.

fastavro's generic writer interprets the schema for every field of every score, which would be the
largest per-record cost of the scorer. Within one batch most fields of a score are the same (signal,
policy version, model version, unit of work), and the others have a handful of lengths, so this encoder
computes every record's length, lays the whole batch out in one buffer and writes each field into all
records at once with numpy (what remains is mostly slicing the buffer into one ``bytes`` per record for
the producer; ``bench/bench_scorer.py`` measures the whole path). It must produce exactly the bytes the
generic codec would: :meth:`ScoreEncoder.self_check` compares both on a sample at start and the scorer
falls back to the generic codec if they ever differ (e.g. after a schema change this module does not
know).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from alstream.contracts.enums import UNIT_CODES
from alstream.streams.avro_bytes import avro_string, zigzag_varint
from alstream.streams.codecs import RecordCodec, header_of


def _put(out: np.ndarray, positions: np.ndarray, constant: bytes) -> None:
    """Write ``constant`` at each of ``positions`` in ``out``."""
    if positions.size and constant:
        out[positions[:, None] + np.arange(len(constant))] = np.frombuffer(constant, dtype=np.uint8)


class ScoreEncoder:
    """Encodes batches of scores sharing signal / policy / model / unit, in ``codec``'s wire format.

    The fast path writes ``codec``'s header and the Avro body itself; without a constant header, or
    when :meth:`self_check` finds a difference, every record goes through ``codec.encode``.
    """

    def __init__(self, *, codec: RecordCodec) -> None:
        self.codec = codec
        header = header_of(codec)
        self.header = header or b""
        self.fast = header is not None

    def encode_batch(
        self,
        *,
        item_ids: Sequence[str],
        scores: np.ndarray,
        signal: str,
        policy_version: str,
        model_version: str,
        unit_of_work: str,
        in_slice: np.ndarray,
        is_gold: np.ndarray,
        predicted: Sequence[str | None],
        confidence: np.ndarray | None,
        scored_at_ms: int,
    ) -> list[bytes]:
        shared = {
            "signal": signal,
            "policy_version": policy_version,
            "model_version": model_version,
            "unit_of_work": unit_of_work,
            "scored_at": scored_at_ms,
        }
        if not self.fast:
            return self._encode_generic(shared, item_ids, scores, in_slice, is_gold, predicted, confidence)
        middle = (
            avro_string(signal)
            + avro_string(policy_version)
            + avro_string(model_version)
            + zigzag_varint(UNIT_CODES[unit_of_work])
        )
        raw_ids = [item_id.encode() for item_id in item_ids]
        n = len(raw_ids)
        if n == 0:
            return []
        id_len = np.fromiter(map(len, raw_ids), dtype=np.int64, count=n)
        if id_len.max() >= 8192:  # a three-byte length prefix: rare enough for the generic codec
            return self._encode_generic(shared, item_ids, scores, in_slice, is_gold, predicted, confidence)
        labels = {label: code for code, label in enumerate(dict.fromkeys(predicted))}
        label_code = np.fromiter(map(labels.__getitem__, predicted), dtype=np.int64, count=n)
        label_bytes = [b"\x00" if label is None else b"\x02" + avro_string(label) for label in labels]
        label_len = np.array([len(b) for b in label_bytes], dtype=np.int64)[label_code]
        has_conf = np.zeros(n, dtype=bool) if confidence is None else ~np.isnan(confidence)
        two_byte_prefix = id_len >= 64
        tail = zigzag_varint(scored_at_ms)

        # Every record's length, then its fields written at their offsets into one buffer, column by column.
        fixed = (
            len(self.header) + 1 + 8 + len(middle) + 2 + 1 + len(tail)
        )  # header, prefix, score, ..., null/some
        length = fixed + two_byte_prefix + id_len + label_len + 4 * has_conf
        end = np.cumsum(length)
        start = end - length
        out = np.empty(int(end[-1]), dtype=np.uint8)
        _put(out, start, self.header)
        pos = start + len(self.header)
        doubled = id_len << 1
        out[pos] = np.where(two_byte_prefix, (doubled & 0x7F) | 0x80, doubled)
        out[pos[two_byte_prefix] + 1] = doubled[two_byte_prefix] >> 7
        pos = pos + 1 + two_byte_prefix
        ids = np.frombuffer(b"".join(raw_ids), dtype=np.uint8)
        if ids.size:  # each id's bytes: one scatter over all ids at once
            out[np.repeat(pos - (np.cumsum(id_len) - id_len), id_len) + np.arange(ids.size)] = ids
        pos = pos + id_len
        out[pos[:, None] + np.arange(8)] = np.asarray(scores, dtype="<f8").view(np.uint8).reshape(n, 8)
        pos = pos + 8
        _put(out, pos, middle)
        pos = pos + len(middle)
        out[pos] = in_slice
        out[pos + 1] = is_gold
        pos = pos + 2
        for code, encoded in enumerate(label_bytes):
            _put(out, pos[label_code == code], encoded)
        pos = pos + label_len
        out[pos] = np.where(has_conf, 2, 0)
        if confidence is not None and has_conf.any():
            out[pos[has_conf][:, None] + 1 + np.arange(4)] = (
                np.asarray(confidence[has_conf], dtype="<f4").view(np.uint8).reshape(-1, 4)
            )
        pos = pos + 1 + 4 * has_conf
        _put(out, pos, tail)
        blob = out.tobytes()
        return [blob[a:b] for a, b in zip(start.tolist(), end.tolist(), strict=True)]

    def _encode_generic(
        self,
        shared: dict[str, Any],
        item_ids: Sequence[str],
        scores: np.ndarray,
        in_slice: np.ndarray,
        is_gold: np.ndarray,
        predicted: Sequence[str | None],
        confidence: np.ndarray | None,
    ) -> list[bytes]:
        """Through fastavro, record by record; ``shared`` holds the fields every record has in common."""
        return [
            self.codec.encode(
                {
                    **shared,
                    "item_id": item_ids[i],
                    "score": float(scores[i]),
                    "in_random_slice": bool(in_slice[i]),
                    "is_qa_gold": bool(is_gold[i]),
                    "predicted_class": predicted[i],
                    "confidence": None
                    if confidence is None or np.isnan(confidence[i])
                    else float(confidence[i]),
                }
            )
            for i in range(len(item_ids))
        ]

    def self_check(self) -> bool:
        """Compare the fast path with the generic codec on a sample; disable it if they differ."""
        kwargs = {
            "item_ids": ["x", "é-ü" * 40],
            "scores": np.array([0.25, -1.5e300]),
            "signal": "entropy",
            "policy_version": "p-1",
            "model_version": "m" * 70,
            "unit_of_work": "PIXEL_MASK",
            "in_slice": np.array([True, False]),
            "is_gold": np.array([False, True]),
            "predicted": ["cat", None],
            "confidence": np.array([0.5, np.nan], dtype=np.float32),
            "scored_at_ms": 1_764_000_000_123,
        }
        if not self.fast:
            return False
        fast = self.encode_batch(**kwargs)  # type: ignore[arg-type]
        self.fast = False
        slow = self.encode_batch(**kwargs)  # type: ignore[arg-type]
        self.fast = fast == slow
        return self.fast
