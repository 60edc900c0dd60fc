"""Which partition carries an annotator's assignments: the one both the router and the SDK compute.

CRC-32 of the key modulo the partition count, as librdkafka's default ("consistent_random") partitioner
does for keyed records, so a tool may equally subscribe with any librdkafka client and filter by key.
"""

from __future__ import annotations

import zlib


def partition_for(key: str, partitions: int) -> int:
    if partitions < 1:
        raise ValueError("partitions must be >= 1")
    return zlib.crc32(key.encode("utf-8")) % partitions
