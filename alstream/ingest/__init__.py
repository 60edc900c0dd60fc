"""The ingestion SDK: validate items and produce them to the items topic (see docs/ingestion.md).

from alstream.ingest import ItemProducer
from alstream.settings import load_settings

with ItemProducer(settings=load_settings(), default_source="camera-7") as producer:
    rejections = producer.send_many(items)
report = producer.flush()
"""

from alstream.ingest.producer import DeliveryReport, ItemProducer
from alstream.ingest.reasons import ALL_REASONS, DeliveryFailure, Rejection
from alstream.ingest.validation import ItemValidator, PreparedBatch

__all__ = [
    "ALL_REASONS",
    "DeliveryFailure",
    "DeliveryReport",
    "ItemProducer",
    "ItemValidator",
    "PreparedBatch",
    "Rejection",
]
