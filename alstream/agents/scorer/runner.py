"""The batch loop for the scorer, counting consumed records per batch rather than per message.

:class:`BatchAgentRunner` increments ``alstream_agent_records_total`` once per message; profiled in
the scorer benchmark that is ~20% of the scorer's time (a labels lookup + lock per item). This
subclass keeps every guarantee and the same metric, counted once per batch. Remove it once the
streams package counts per batch itself (requested in the issue-3 report).
"""

from __future__ import annotations

import logging
from typing import Any

from confluent_kafka import KafkaError, KafkaException

from alstream.observability.metrics import AGENT_ERRORS
from alstream.streams.batch_loop import RECORDS, BatchAgentRunner

log = logging.getLogger(__name__)


class ScorerRunner(BatchAgentRunner):
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
