"""A record with no value (a tombstone, which any client can produce) is undecodable, not a crash:
every reader catches DecodeError, so the codecs must raise one for None too."""

from __future__ import annotations

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient

from alstream.streams.codecs import ConfluentCodec, SingleObjectCodec
from alstream.streams.exceptions import TruncatedRecord


def test_single_object_codec_refuses_a_tombstone() -> None:
    with pytest.raises(TruncatedRecord, match="tombstone"):
        SingleObjectCodec("labels").decode(None)


def test_confluent_codec_refuses_a_tombstone() -> None:
    registry = SchemaRegistryClient.new_client({"url": "mock://tombstones"})
    codec = ConfluentCodec("labels", registry=registry, subject="labels-value")
    with pytest.raises(TruncatedRecord, match="tombstone"):
        codec.decode(None)
    assert codec.header == b"\x00" + codec.schema_id.to_bytes(4, "big")
