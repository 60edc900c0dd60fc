"""The one partition function: where a keyed record lives, as every component computes it.

CRC-32 of the UTF-8 key modulo the partition count, which is what librdkafka's default
("consistent_random") partitioner does for keyed records. The router (assignments by annotator,
calibration items by item id), the SDKs and the in-memory test producer all use this function, so a
record produced by any librdkafka client with default settings lands where alstream looks for it.
"""

from __future__ import annotations

import zlib


def partition_for(key: str | bytes, partitions: int) -> int:
    if partitions < 1:
        raise ValueError("partitions must be >= 1")
    raw = key.encode("utf-8") if isinstance(key, str) else key
    return zlib.crc32(raw) % partitions
