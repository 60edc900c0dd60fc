"""The fast score encoder writes exactly the bytes of the generic Avro codec."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from alstream.agents.scorer.score_encoding import ScoreEncoder
from alstream.streams.codecs import SingleObjectCodec

CODEC = SingleObjectCodec("scores")


@settings(max_examples=60, deadline=None)
@given(
    ids=st.lists(st.text(min_size=1, max_size=40), min_size=1, max_size=8),
    score=st.floats(allow_nan=False, allow_infinity=False),
    version=st.text(max_size=80),
    unit=st.sampled_from(["ITEM", "OBJECT", "REGION", "PIXEL_MASK"]),
    ms=st.integers(0, 2**45),
    flags=st.lists(st.booleans(), min_size=2, max_size=2),
    label=st.one_of(st.none(), st.text(max_size=10)),
    confidence=st.one_of(st.none(), st.floats(0, 1, width=32)),
)
def test_fast_path_equals_codec(ids, score, version, unit, ms, flags, label, confidence) -> None:  # type: ignore[no-untyped-def]
    n = len(ids)
    kwargs = dict(
        item_ids=ids, scores=np.full(n, score), signal="margin", policy_version="p", model_version=version,
        unit_of_work=unit, in_slice=np.full(n, flags[0]), is_gold=np.full(n, flags[1]), predicted=[label] * n,
        confidence=np.full(n, np.nan if confidence is None else confidence, dtype=np.float32), scored_at_ms=ms,
    )
    encoder = ScoreEncoder(codec=CODEC)
    fast = encoder.encode_batch(**kwargs)
    encoder.fast = False
    assert fast == encoder.encode_batch(**kwargs)
    decoded = CODEC.decode(fast[0])
    assert decoded["item_id"] == ids[0] and decoded["model_version"] == version


def test_self_check_passes() -> None:
    assert ScoreEncoder(codec=CODEC).self_check()
