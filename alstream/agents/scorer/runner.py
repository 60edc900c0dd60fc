"""The batch loop for the scorer, counting consumed records per batch rather than per message.

:class:`BatchAgentRunner` increments ``alstream_agent_records_total`` once per message; profiled in
the scorer benchmark that is ~20% of the scorer's time (a labels lookup + lock per item). This
subclass keeps every guarantee and the same metric, counted once per batch, and stores offsets
with one method call per message instead of three. Remove it once the streams package does both
itself (requested in the issue-3 report).
"""

from __future__ import annotations

import logging
from typing import Any

from confluent_kafka import KafkaError, KafkaException, TopicPartition

from alstream.observability.metrics import AGENT_ERRORS
from alstream.streams.batch_loop import RECORDS, BatchAgentRunner

log = logging.getLogger(__name__)


def limit_native_threads(count: int) -> None:
    """Cap BLAS / OpenMP threads for the whole process.

    The scorer's matrices are small (a batch x 64 features x 10 classes); native thread pools there
    cost more in wake-ups and contention with librdkafka's threads than they save (measured: ~30% less
    CPU per item with one thread). Scale out with partitions and processes instead.
    """
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=count)


#: librdkafka calls back into Python only for failed deliveries: that is all ``Outputs`` records, and a
#: per-message callback for every successful score costs ~1 us of the scorer's GIL time per item.
PRODUCER_OVERRIDES = {"delivery.report.only.error": True}


class ScorerRunner(BatchAgentRunner):
    def __init__(self, **kwargs: Any) -> None:
        kwargs["producer_overrides"] = {**PRODUCER_OVERRIDES, **(kwargs.get("producer_overrides") or {})}
        super().__init__(**kwargs)

    def _without_errors(self, messages: list[Any]) -> list[Any]:
        good = []
        for message in messages:
            error = message.error()
            if error is None:
                good.append(message)
            elif error.code() != KafkaError._PARTITION_EOF:
                AGENT_ERRORS.labels(self.agent, error.name()).inc()
                log.warning("%s: consumer error %s", self.agent, error)
                if error.fatal():
                    raise KafkaException(error)
        if good:
            if len(self.topics) == 1:
                RECORDS.labels(self.agent, self.topics[0]).inc(len(good))
            else:
                counts: dict[str, int] = {}
                for message in good:
                    counts[message.topic()] = counts.get(message.topic(), 0) + 1
                for topic, count in counts.items():
                    RECORDS.labels(self.agent, topic).inc(count)
        return good

    def _store_offsets(self, messages: list[Any]) -> None:
        """Same offsets as the base class (last offset + 1 per partition), one method call per message.

        A consumer returns each partition's messages in offset order, so the last one seen per
        partition is its highest offset.
        """
        if len(self.topics) != 1:
            super()._store_offsets(messages)
            return
        last = {message.partition(): message for message in messages}
        self.consumer.store_offsets(
            offsets=[TopicPartition(m.topic(), p, m.offset() + 1) for p, m in last.items()]
        )
