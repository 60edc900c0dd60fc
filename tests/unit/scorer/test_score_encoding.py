"""The fast score encoder writes exactly the bytes of the generic Avro codec."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from alstream.agents.scorer.score_encoding import ScoreEncoder
from alstream.streams.codecs import SingleObjectCodec

CODEC = SingleObjectCodec("scores")


rows = st.tuples(
    st.text(min_size=1, max_size=40),  # item_id: up to 160 UTF-8 bytes, so one- and two-byte length prefixes
    st.floats(allow_nan=False),  # score
    st.booleans(),  # in the random slice
    st.booleans(),  # QA gold
    st.one_of(st.none(), st.sampled_from(["cat", "dog", "é" * 70]), st.text(max_size=10)),  # predicted class
    st.one_of(st.none(), st.floats(0, 1, width=32)),  # confidence
)


@settings(max_examples=80, deadline=None)
@given(
    batch=st.lists(rows, min_size=1, max_size=12),
    version=st.text(max_size=80),
    unit=st.sampled_from(["ITEM", "OBJECT", "REGION", "PIXEL_MASK"]),
    ms=st.integers(0, 2**45),
)
def test_fast_path_equals_codec(batch, version, unit, ms) -> None:  # type: ignore[no-untyped-def]
    ids, scores, in_slice, gold, labels, confidence = zip(*batch, strict=True)
    kwargs = {
        "item_ids": list(ids),
        "scores": np.array(scores),
        "signal": "margin",
        "policy_version": "p",
        "model_version": version,
        "unit_of_work": unit,
        "in_slice": np.array(in_slice),
        "is_gold": np.array(gold),
        "predicted": list(labels),
        "confidence": np.array([np.nan if c is None else c for c in confidence], dtype=np.float32),
        "scored_at_ms": ms,
    }
    encoder = ScoreEncoder(codec=CODEC)
    fast = encoder.encode_batch(**kwargs)
    encoder.fast = False
    assert fast == encoder.encode_batch(**kwargs)
    decoded = [CODEC.decode(value) for value in fast]
    assert [d["item_id"] for d in decoded] == list(ids)
    assert [d["predicted_class"] for d in decoded] == list(labels)


def test_ids_with_three_byte_length_prefixes_use_the_codec() -> None:
    encoder = ScoreEncoder(codec=CODEC)
    ids = ["short", "x" * 9000]
    values = encoder.encode_batch(
        item_ids=ids,
        scores=np.array([0.5, 0.25]),
        signal="margin",
        policy_version="p",
        model_version="m",
        unit_of_work="ITEM",
        in_slice=np.array([False, True]),
        is_gold=np.array([False, False]),
        predicted=[None, "cat"],
        confidence=np.array([np.nan, 0.75], dtype=np.float32),
        scored_at_ms=1,
    )
    assert [CODEC.decode(v)["item_id"] for v in values] == ids
    assert encoder.fast  # only that batch took the generic codec


def test_self_check_passes() -> None:
    assert ScoreEncoder(codec=CODEC).self_check()


def test_confluent_wire_format_takes_the_fast_path_byte_exact() -> None:
    """The fast path writes the codec's header then the Avro body, so it serves both wire formats."""
    from alstream.settings import load_settings
    from alstream.streams.codecs import codec_for

    settings = load_settings(
        codec={"wire_format": "confluent", "schema_registry_url": "mock://score-encoding"}
    )
    encoder = ScoreEncoder(codec=codec_for("scores", settings))
    assert encoder.self_check() and encoder.fast
    kwargs = {
        "item_ids": ["a", "ü" * 50],
        "scores": np.array([0.5, 2.0]),
        "signal": "margin",
        "policy_version": "p",
        "model_version": "m",
        "unit_of_work": "ITEM",
        "in_slice": np.array([True, False]),
        "is_gold": np.array([False, True]),
        "predicted": ["cat", None],
        "confidence": np.array([0.9, np.nan], dtype=np.float32),
        "scored_at_ms": 7,
    }
    fast = encoder.encode_batch(**kwargs)
    encoder.fast = False
    assert fast == encoder.encode_batch(**kwargs)
