"""File readers: the accepted shapes of JSONL, CSV and Parquet, and line numbers of bad records."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from alstream.ingest import reasons as R
from alstream.ingest.exceptions import InputFileError
from alstream.ingest.files import ColumnPrefixes, detect_format, flat_to_item, progress_total, read_chunks


def read_all(path: Path, **kwargs):  # type: ignore[no-untyped-def]
    chunks = list(read_chunks(path, fmt=detect_format(path), **kwargs))
    lines = [line for c in chunks for line in c.lines]
    records = [r for c in chunks for r in c.records]
    problems = {c.lines[i]: p for c in chunks for i, p in c.problems.items()}
    return chunks, lines, records, problems


def test_detect_format() -> None:
    assert detect_format(Path("a.jsonl")) == "jsonl"
    assert detect_format(Path("a.ndjson")) == "jsonl"
    assert detect_format(Path("a.CSV")) == "csv"
    assert detect_format(Path("x.2026.parquet")) == "parquet"
    assert detect_format(Path("a.txt"), "csv") == "csv"
    with pytest.raises(InputFileError, match="--format"):
        detect_format(Path("a.txt"))
    with pytest.raises(InputFileError, match="unknown format"):
        detect_format(Path("a.csv"), "xml")


def test_jsonl_lines_blank_lines_and_broken_lines(tmp_path: Path) -> None:
    path = tmp_path / "items.jsonl"
    path.write_text(
        json.dumps({"item_id": "a", "embedding": [1, 2]}) + "\n"
        "\n"
        '{"item_id": "b", "embedding": [1, \n'
        "[1, 2]\n" + json.dumps({"item_id": "c", "emb_1": 2.0, "emb_0": 1.0, "meta_site": "x"}) + "\n"
    )
    chunks, lines, records, problems = read_all(path, chunk_size=2)
    assert lines == [1, 3, 4, 5]
    assert len(chunks) == 2 and chunks[-1].progress == path.stat().st_size
    assert records[0] == {"item_id": "a", "embedding": [1, 2]}
    assert records[3] == {"item_id": "c", "embedding": [1.0, 2.0], "metadata": {"site": "x"}}
    assert problems[3][0] == R.UNPARSEABLE and problems[4][0] == R.UNPARSEABLE
    assert "JSON object" in problems[4][1]
    assert progress_total(path, "jsonl") == path.stat().st_size


def test_csv_with_embedding_columns_and_json_columns(tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    path.write_text(
        "item_id,source,emb_0,emb_1,emb_10,prob_0,prob_1,meta_site,event_time,uri\n"
        "a,cam,0.1,0.2,0.3,0.4,0.6,berlin,1700000000000,\n"
        "b,cam,0.1,oops,0.3,,,,2026-01-31T12:00:00Z,\n"
        "c,cam,0.1\n"
        '"d",cam,1,2,3,0.5,0.5,"multi\nline",5,s3://x\n'
    )
    _, lines, records, problems = read_all(path)
    assert lines == [2, 3, 4, 5]
    assert records[0] == {
        "item_id": "a",
        "source": "cam",
        "embedding": [0.1, 0.2, 0.3],
        "probabilities": [0.4, 0.6],
        "metadata": {"site": "berlin"},
        "event_time": 1_700_000_000_000,
    }  # emb_10 sorts after emb_1 by position, not text; the empty uri is absent
    assert problems[3] == (R.BAD_TYPE, "column emb_1 is not a number: 'oops'")
    assert problems[4][0] == R.UNPARSEABLE and "header has 10" in problems[4][1]
    assert records[3]["metadata"] == {"site": "multi\nline"} and records[3]["uri"] == "s3://x"

    json_columns = tmp_path / "json.csv"
    json_columns.write_text('item_id,embedding,metadata\na,"[1, 2]","{""k"": ""v""}"\nb,"[1,",\n')
    _, _, records, problems = read_all(json_columns)
    assert records[0] == {"item_id": "a", "embedding": [1, 2], "metadata": {"k": "v"}}
    assert problems[3] == (R.BAD_TYPE, "column embedding is not valid JSON")


def test_csv_duplicate_columns_refuse_the_file(tmp_path: Path) -> None:
    path = tmp_path / "dup.csv"
    path.write_text("item_id,item_id\na,b\n")
    with pytest.raises(InputFileError, match="duplicate"):
        read_all(path)
    with pytest.raises(InputFileError, match="does not exist"):
        list(read_chunks(tmp_path / "none.csv", fmt="csv"))


def test_parquet_list_and_column_embeddings(tmp_path: Path) -> None:
    listed = tmp_path / "list.parquet"
    pq.write_table(
        pa.table(
            {
                "item_id": ["a", "b"],
                "embedding": pa.array([[1.0, 2.0], [3.0, 4.0]], type=pa.list_(pa.float32())),
                "probabilities": [[0.5, 0.5], None],
                "source": ["cam", None],
            }
        ),
        listed,
    )
    chunks, lines, records, problems = read_all(listed)
    assert lines == [1, 2] and not problems
    plain = [{k: v.tolist() if hasattr(v, "tolist") else v for k, v in r.items()} for r in records]
    assert plain[0] == {"item_id": "a", "embedding": [1.0, 2.0], "probabilities": [0.5, 0.5], "source": "cam"}
    assert plain[1] == {"item_id": "b", "embedding": [3.0, 4.0]}
    assert chunks[-1].progress == 2 == progress_total(listed, "parquet")

    columns = tmp_path / "columns.parquet"
    pq.write_table(
        pa.table({"item_id": ["a", "b"], "v1": [2.0, None], "v0": [1.0, 3.0], "meta_k": ["x", "y"]}), columns
    )
    _, _, records, _ = read_all(columns, prefixes=ColumnPrefixes(embedding="v"))
    assert records[0]["embedding"].tolist() == [1.0, 2.0]  # ordered by position, stacked as one matrix
    assert records[0]["metadata"] == {"k": "x"}
    assert np.isnan(records[1]["embedding"][1])  # a null cell: refused later as not_finite


def test_flat_rows_refuse_ambiguous_vectors() -> None:
    with pytest.raises(ValueError, match="both"):
        flat_to_item({"embedding": [1.0], "emb_0": 1.0}, ColumnPrefixes())
    with pytest.raises(ValueError, match="position"):
        flat_to_item({"emb_x": 1.0}, ColumnPrefixes())
