"""Readers for item files: JSONL, CSV and Parquet, in chunks, with the line of every record.

A reader never raises for one bad record: a line that is not JSON, a CSV row with the wrong number
of fields or a non-numeric ``emb_3`` becomes a problem with a reason, and the caller writes it to the
rejects file. Only a file that cannot be read at all raises :class:`InputFileError`.

Flat formats (CSV, Parquet, and JSONL if it likes) may spread vectors over columns: ``emb_0 ..
emb_63`` for the embedding, ``prob_0 ..`` for probabilities, ``meta_<key>`` for metadata entries. A
column ``embedding`` / ``probabilities`` / ``hardness`` / ``metadata`` holding a JSON string is parsed.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from alstream.ingest import reasons as R
from alstream.ingest.exceptions import InputFileError

Format = Literal["jsonl", "csv", "parquet"]
SUFFIXES: dict[str, Format] = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
}
JSON_COLUMNS = ("embedding", "probabilities", "hardness", "metadata")
_INTEGER = re.compile(r"-?\d+")


@dataclass(frozen=True)
class ColumnPrefixes:
    """How flat files spell vectors and metadata as columns."""

    embedding: str = "emb_"
    probabilities: str = "prob_"
    metadata: str = "meta_"


@dataclass
class Chunk:
    """Up to ``chunk_size`` records of a file, in file order."""

    lines: list[int]  # 1-based line (JSONL, CSV) or row (Parquet) of each record
    records: list[dict[str, Any] | None]  # item dicts; None where the row could not be read
    originals: list[Any]  # what the rejects file shows for each row (parsed object or raw text)
    problems: dict[int, tuple[str, str]] = field(default_factory=dict)  # position -> (reason, message)
    progress: int = 0  # bytes (text formats) or rows (Parquet) consumed so far


def detect_format(path: Path, declared: str | None = None) -> Format:
    if declared:
        if declared not in ("jsonl", "csv", "parquet"):
            raise InputFileError(f"unknown format {declared!r}: use jsonl, csv or parquet")
        return declared  # type: ignore[return-value]
    suffixes = [s.lower() for s in path.suffixes]
    for suffix in reversed(suffixes):
        if suffix in SUFFIXES:
            return SUFFIXES[suffix]
    raise InputFileError(
        f"cannot tell the format of {path.name} from its suffix: "
        "name it .jsonl/.csv/.parquet or pass --format"
    )


def progress_total(path: Path, fmt: Format) -> int:
    """What :attr:`Chunk.progress` counts up to: bytes for text files, rows for Parquet."""
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(path).metadata.num_rows
    return path.stat().st_size


def read_chunks(
    path: Path,
    *,
    fmt: Format,
    chunk_size: int = 5_000,
    prefixes: ColumnPrefixes = ColumnPrefixes(),
) -> Iterator[Chunk]:
    if not path.is_file():
        raise InputFileError(f"{path} does not exist or is not a file")
    readers = {"jsonl": _jsonl, "csv": _csv, "parquet": _parquet}
    yield from readers[fmt](path, chunk_size, prefixes)


def flat_to_item(row: dict[str, Any], prefixes: ColumnPrefixes) -> dict[str, Any]:
    """One flat row (CSV / Parquet / JSONL) as an item dict. Raises ValueError naming the bad column."""
    item: dict[str, Any] = {}
    embedding: list[tuple[int, Any]] = []
    probabilities: list[tuple[int, Any]] = []
    metadata: dict[str, Any] = {}
    for key, value in row.items():
        if value is None or (type(value) is str and not value):
            continue  # absent: an empty CSV cell or a Parquet null
        if key.startswith(prefixes.embedding):
            embedding.append((_position(key, prefixes.embedding), _number(key, value)))
        elif key.startswith(prefixes.probabilities):
            probabilities.append((_position(key, prefixes.probabilities), _number(key, value)))
        elif key.startswith(prefixes.metadata):
            metadata[key[len(prefixes.metadata) :]] = value
        elif key in JSON_COLUMNS and isinstance(value, str):
            try:
                item[key] = json.loads(value)
            except json.JSONDecodeError:
                raise ValueError(f"column {key} is not valid JSON") from None
        elif key == "event_time" and isinstance(value, str) and _INTEGER.fullmatch(value):
            item[key] = int(value)
        else:
            item[key] = value
    if embedding:
        if "embedding" in item:
            raise ValueError(f"both an embedding column and {prefixes.embedding}* columns")
        item["embedding"] = [v for _, v in sorted(embedding)]
    if probabilities:
        if "probabilities" in item:
            raise ValueError(f"both a probabilities column and {prefixes.probabilities}* columns")
        item["probabilities"] = [v for _, v in sorted(probabilities)]
    if metadata:
        if isinstance(item.get("metadata"), dict):
            metadata = {**item["metadata"], **metadata}
        item["metadata"] = metadata
    return item


def _position(key: str, prefix: str) -> int:
    suffix = key[len(prefix) :]
    if not suffix.isdigit():
        raise ValueError(f"column {key}: after {prefix!r} a column needs its position (e.g. {prefix}0)")
    return int(suffix)


def _number(key: str, value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"column {key} is not a number: {str(value)[:40]!r}") from None


def _jsonl(path: Path, chunk_size: int, prefixes: ColumnPrefixes) -> Iterator[Chunk]:
    chunk = Chunk([], [], [])
    consumed = 0
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            consumed += len(raw)
            if not raw.strip():
                continue
            position = len(chunk.lines)
            chunk.lines.append(number)
            try:
                parsed = json.loads(raw.strip())
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                chunk.records.append(None)
                chunk.originals.append(raw.decode(errors="replace").rstrip("\r\n"))
                chunk.problems[position] = (R.UNPARSEABLE, f"not valid JSON: {exc}")
            else:
                chunk.originals.append(parsed)
                if not isinstance(parsed, dict):
                    chunk.records.append(None)
                    chunk.problems[position] = (
                        R.UNPARSEABLE,
                        f"a line must be a JSON object, got {type(parsed).__name__}",
                    )
                else:
                    _add_flat(chunk, position, parsed, prefixes)
            if len(chunk.lines) >= chunk_size:
                chunk.progress = consumed
                yield chunk
                chunk = Chunk([], [], [])
    chunk.progress = consumed
    if chunk.lines:
        yield chunk


def _add_flat(chunk: Chunk, position: int, row: dict[str, Any], prefixes: ColumnPrefixes) -> None:
    try:
        chunk.records.append(flat_to_item(row, prefixes))
    except ValueError as exc:
        chunk.records.append(None)
        chunk.problems[position] = (R.BAD_TYPE, str(exc))


def _csv(path: Path, chunk_size: int, prefixes: ColumnPrefixes) -> Iterator[Chunk]:
    with path.open("rb") as binary, io.TextIOWrapper(binary, encoding="utf-8-sig", newline="") as text:
        reader = csv.reader(text)
        try:
            header = next(reader)
        except StopIteration:
            return
        except (csv.Error, UnicodeDecodeError) as exc:
            raise InputFileError(f"{path}: cannot read the CSV header: {exc}") from exc
        if len(set(header)) != len(header):
            duplicates = sorted({h for h in header if header.count(h) > 1})
            raise InputFileError(f"{path}: duplicate CSV columns {', '.join(duplicates)}")
        chunk = Chunk([], [], [])
        previous_line = reader.line_num
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                break
            except UnicodeDecodeError as exc:
                raise InputFileError(f"{path} is not UTF-8 text after line {previous_line}: {exc}") from exc
            except csv.Error as exc:  # e.g. an oversized field: this row is refused, reading goes on
                position = len(chunk.lines)
                chunk.lines.append(previous_line + 1)
                chunk.records.append(None)
                chunk.originals.append(None)
                chunk.problems[position] = (R.UNPARSEABLE, f"unreadable CSV row: {exc}")
                previous_line = reader.line_num
                continue
            start_line, previous_line = previous_line + 1, reader.line_num
            if not fields:
                continue  # a blank line holds no record
            position = len(chunk.lines)
            chunk.lines.append(start_line)
            if len(fields) != len(header):
                chunk.records.append(None)
                chunk.originals.append(fields)
                chunk.problems[position] = (
                    R.UNPARSEABLE,
                    f"row has {len(fields)} fields, the header has {len(header)}",
                )
            else:
                row = dict(zip(header, fields, strict=True))
                chunk.originals.append(row)
                _add_flat(chunk, position, row, prefixes)
            if len(chunk.lines) >= chunk_size:
                chunk.progress = binary.tell()
                yield chunk
                chunk = Chunk([], [], [])
        chunk.progress = binary.tell()
        if chunk.lines:
            yield chunk


def _parquet(path: Path, chunk_size: int, prefixes: ColumnPrefixes) -> Iterator[Chunk]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise InputFileError(f"{path} is not a readable Parquet file: {exc}") from exc
    row_number = 0
    for batch in parquet.iter_batches(batch_size=chunk_size):
        rows = _parquet_rows(batch, prefixes)
        chunk = Chunk([], [], [])
        for position, row in enumerate(rows):
            row_number += 1
            chunk.lines.append(row_number)
            chunk.originals.append(row)
            _add_flat(chunk, position, row, prefixes)
        chunk.progress = row_number
        yield chunk


def _parquet_rows(batch: Any, prefixes: ColumnPrefixes) -> list[dict[str, Any]]:
    """Rows of a record batch, with vectors as numpy rows rather than lists of Python floats.

    ``to_pylist`` would build one Python float per vector value (most of the reading time); list
    columns become one array per row instead, and ``emb_*`` / ``prob_*`` float columns are stacked
    into a matrix once per batch.
    """
    import pyarrow as pa

    vectors: dict[str, Any] = {}
    dropped: list[str] = []
    for name in ("embedding", "probabilities"):
        if name in batch.schema.names:
            kind = batch.schema.field(name).type
            if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
                vectors[name] = batch.column(name).to_numpy(zero_copy_only=False)
                dropped.append(name)
    for target, prefix in (("embedding", prefixes.embedding), ("probabilities", prefixes.probabilities)):
        columns = [n for n in batch.schema.names if n.startswith(prefix) and n[len(prefix) :].isdigit()]
        numeric = all(
            pa.types.is_floating(batch.schema.field(n).type)
            or pa.types.is_integer(batch.schema.field(n).type)
            for n in columns
        )
        if columns and numeric and target not in vectors and target not in batch.schema.names:
            ordered = sorted(columns, key=lambda n: int(n[len(prefix) :]))
            matrix = np.column_stack(
                [batch.column(n).to_numpy(zero_copy_only=False).astype(np.float64) for n in ordered]
            )  # a null cell becomes NaN: the item is refused as not_finite
            vectors[target] = list(matrix)
            dropped.extend(columns)
    rows = (batch.drop_columns(dropped) if dropped else batch).to_pylist()
    for name, values in vectors.items():
        for row, value in zip(rows, values, strict=True):
            row[name] = value
    return rows
