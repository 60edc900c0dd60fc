"""A client written as a stranger would write it: only ``schemas/*.avsc``, docs/ and the public libraries
(fastavro, confluent-kafka). Nothing from alstream is imported here, on purpose: tests that use it
check that what the docs promise holds for any producer, not only for alstream's own SDK.

What docs/ says a client needs: topics are ``<prefix><name>`` (docs/configuration.md, default prefix
``alstream.``); values are Avro single-object encoded (``C3 01`` + the CRC-64-AVRO fingerprint of the
writer schema, little-endian, + the Avro body; docs/ingestion.md, README); items are keyed by
``item_id``, labels by ``item_id``, annotator events by ``annotator_id`` and sent to every partition
(docs/annotation-tool-contract.md); dead letters carry ``alstream.error.*`` headers (docs/metrics.md).
"""

from __future__ import annotations

import io
import json
import struct
from functools import cache
from pathlib import Path
from typing import Any

import fastavro
from confluent_kafka import Producer
from fastavro.schema import fingerprint, to_parsing_canonical_form

from tests.support.to_the_end import read_topic_to_end

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
MAGIC = b"\xc3\x01"


@cache
def schema(name: str) -> Any:
    return fastavro.parse_schema(json.loads((SCHEMAS / f"{name}.avsc").read_text()), named_schemas={})


def encode(name: str, record: dict[str, Any]) -> bytes:
    """``record`` (times as epoch milliseconds or datetimes) as a single-object encoded value."""
    parsed = schema(name)
    header = MAGIC + bytes.fromhex(fingerprint(to_parsing_canonical_form(parsed), "CRC-64-AVRO"))
    body = io.BytesIO()
    fastavro.schemaless_writer(body, parsed, record)
    return header + body.getvalue()


def decode(name: str, value: bytes) -> dict[str, Any]:
    assert value[:2] == MAGIC, "not single-object encoded"
    return fastavro.schemaless_reader(io.BytesIO(value[10:]), schema(name), None)


def packed(values: list[float]) -> bytes:
    """A vector as the schemas document it: packed little-endian float32."""
    return struct.pack(f"<{len(values)}f", *values)


class RawClient:
    """A confluent-kafka producer and readers for one cluster and topic prefix."""

    def __init__(self, *, bootstrap: str, prefix: str) -> None:
        self.bootstrap = bootstrap
        self.prefix = prefix
        self.producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})

    def topic(self, name: str) -> str:
        return self.prefix + name

    def partitions(self, name: str) -> int:
        return len(
            self.producer.list_topics(self.topic(name), timeout=10).topics[self.topic(name)].partitions
        )

    def send(self, name: str, key: str, record: dict[str, Any], *, partition: int | None = None) -> None:
        extra = {} if partition is None else {"partition": partition}
        self.producer.produce(self.topic(name), key=key.encode(), value=encode(name, record), **extra)

    def send_to_every_partition(self, name: str, key: str, record: dict[str, Any]) -> None:
        """What the contract asks of annotator events: one copy per partition (each is a router shard)."""
        for partition in range(self.partitions(name)):
            self.send(name, key, record, partition=partition)

    def flush(self) -> None:
        assert self.producer.flush(30) == 0, "the broker did not acknowledge every record"

    def read_all(self, name: str, *, group: str) -> list[Any]:
        """Every record of a topic so far (messages, not decoded), read from the beginning to each
        partition's end as a fetch reports it (partition-EOF; a ListOffsets answer can fall short)."""
        config = {"bootstrap.servers": self.bootstrap, "group.id": group}
        return read_topic_to_end(config, self.topic(name))


def error_headers(message: Any) -> dict[str, str]:
    """A dead letter's ``alstream.error.*`` headers (docs/metrics.md), without the prefix."""
    return {
        name.removeprefix("alstream.error."): (raw or b"").decode(errors="replace")
        for name, raw in message.headers() or []
        if name.startswith("alstream.error.")
    }
