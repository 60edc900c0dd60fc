"""The hostile-record set: records on every input topic that no agent can use, each with the agent that
must dead-letter it (with its reason) and move on.

Every input topic gets bytes that are not a record, a record of another topic's schema, a tombstone, a
record at the producer's size limit and one five times above it (what a producer with a larger
``message.max.bytes`` sends: the broker takes it, the agents must read it and dead-letter a truncated
copy). Topics whose records name times, identities or other records also get records that decode but
break the contract: impossible times, another client's identity, a forged calibration round, model and
release announcements whose artifact is not what it claims.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from alstream.streams.codecs import SingleObjectCodec
from tests.support.records import (
    annotator_event,
    assignment,
    calibration,
    candidate,
    label,
    model_announcement,
    release_announcement,
)

# Which agent must dead-letter a hostile record of each input topic (others that read it may too).
DEAD_LETTERED_BY = {
    "items": "scorer",
    "candidates": "router",
    "annotator-events": "router",
    "labels": "labels",
    "assignments": "labels",
    "calibration": "router",
    "models": "scorer",
    "releases": "trainer",
}
# Topics no agent owns: their readers (the release agent reads scores; `alstream status` reads
# router-status; the labels agent and `alstream dead-letters` read dead letters) skip what they cannot
# decode and carry on. Their hostile records are "survived": the readers must not fail on them.
READ_ONLY_BY_TOOLS = ("scores", "router-status", "dead-letters")
ABOVE_LIMIT_FACTOR = 5
FUTURE = datetime(9999, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Hostile:
    topic: str  # base name
    kind: str
    key: bytes | None
    value: bytes | None
    # "dead-lettered" (by ``agent``); "never assigned": a calibration round naming items nobody
    # pooled or assigned is judged item by item by the shard owning each item (no worker sees every
    # shard), which refuses it; the round's id must then never appear on an assignment; "survived": on
    # a topic only tools read (READ_ONLY_BY_TOOLS).
    outcome: str = "dead-lettered"
    reference: str = ""  # the calibration id, for "never assigned"

    @property
    def agent(self) -> str:
        return DEAD_LETTERED_BY.get(self.topic, "")


def _item_record(item_id: str, dim: int, **overrides: Any) -> dict[str, Any]:
    record = {
        "item_id": item_id,
        "source": "hostile",
        "unit_of_work": "ITEM",
        "embedding": np.ones(dim, dtype="<f4").tobytes(),
        "probabilities": None,
        "hardness": None,
        "event_time": int(datetime.now(UTC).timestamp() * 1000),
    }
    record.update(overrides)
    return record


def hostile_records(
    *,
    round_id: str,
    dim: int,
    classes: list[str],
    annotator: str,
    annotators: list[str],
    max_message_bytes: int,
    workdir: Path,
    seed: int,
) -> list[Hostile]:
    """One round of the set; ``round_id`` makes its ids unique, ``annotator`` is a real annotation
    client's id (a hostile assignment lands on its partition), ``annotators`` those a forged calibration
    round names."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    codecs = {t: SingleObjectCodec(t) for t in DEAD_LETTERED_BY}
    out: list[Hostile] = []

    def add(topic: str, kind: str, value: bytes | None, key: str | None = None, **expect: str) -> None:
        out.append(
            Hostile(topic, kind, (key or f"hostile-{round_id}-{topic}-{kind}").encode(), value, **expect)
        )

    for topic in DEAD_LETTERED_BY:
        key = annotator if topic == "assignments" else None
        add(topic, "random bytes", bytes(rng.getrandbits(8) for _ in range(64)), key)
        other = "labels" if topic != "labels" else "items"
        other_record = (
            label(f"hostile-{round_id}-other", of=assignment(annotator_id=annotator, classes=classes))
            if other == "labels"
            else _item_record(f"hostile-{round_id}-other", dim)
        )
        add(topic, "another schema", codecs[other].encode(other_record), key)
        add(topic, "tombstone", None, key)
        add(topic, "at the size limit", rng.randbytes(max_message_bytes - 4096), key)
        add(topic, "above the size limit", rng.randbytes(ABOVE_LIMIT_FACTOR * max_message_bytes), key)

    for topic in READ_ONLY_BY_TOOLS:
        add(topic, "random bytes", bytes(rng.getrandbits(8) for _ in range(64)), outcome="survived")
        add(
            topic,
            "another schema",
            codecs["labels"].encode(label(f"hostile-{round_id}-ro")),
            outcome="survived",
        )
        add(topic, "tombstone", None, outcome="survived")
        add(
            topic,
            "above the size limit",
            rng.randbytes(ABOVE_LIMIT_FACTOR * max_message_bytes),
            outcome="survived",
        )

    def encoded(topic: str, record: dict[str, Any]) -> bytes:
        return codecs[topic].encode(record)

    item_id = f"hostile-{round_id}-item"
    add("items", "impossible time", encoded("items", _item_record(item_id, dim, event_time=-86_400_000)))
    add(
        "items",
        "impossible time (future)",
        encoded("items", _item_record(item_id + "-f", dim, event_time=int(FUTURE.timestamp() * 1000))),
    )
    add(
        "candidates",
        "NaN score",
        encoded("candidates", candidate(f"{item_id}-nan", dim=dim, score=float("nan"), selected_at=now)),
    )
    add(
        "candidates",
        "impossible time",
        encoded("candidates", candidate(f"{item_id}-t", dim=dim, selected_at=FUTURE)),
    )
    add(
        "annotator-events",
        "impossible time",
        encoded(
            "annotator-events",
            annotator_event(f"hostile-{round_id}-ann", occurred_at=datetime(1960, 1, 1, tzinfo=UTC)),
        ),
    )
    add(
        "annotator-events",
        "reserved identity",
        encoded("annotator-events", annotator_event("__intruder__", occurred_at=now)),
    )
    forged_of = assignment(
        f"hostile-{round_id}-as", annotator_id=annotator, item_id=item_id, classes=classes, assigned_at=now
    )
    add(
        "labels",
        "impossible time",
        encoded("labels", label(f"hostile-{round_id}-l9999", of=forged_of, submitted_at=FUTURE)),
    )
    add(
        "labels",
        "another client's identity",
        encoded("labels", label(f"hostile-{round_id}-lid", of=forged_of, annotator_id="__router_tick__")),
    )
    add(
        "assignments",
        "impossible time",
        encoded(
            "assignments",
            assignment(
                f"hostile-{round_id}-as-t",
                annotator_id=annotator,
                item_id=item_id,
                classes=classes,
                assigned_at=FUTURE,
            ),
        ),
        annotator,
    )
    add(
        "assignments",
        "another client's identity",
        encoded(
            "assignments",
            assignment(
                f"hostile-{round_id}-as-id",
                annotator_id="__intruder__",
                item_id=item_id,
                classes=classes,
                assigned_at=now,
            ),
        ),
        annotator,
    )
    add(
        "calibration",
        "forged calibration (unknown items)",
        encoded(
            "calibration",
            calibration(
                f"hostile-{round_id}-cal",
                item_ids=[f"hostile-{round_id}-nowhere-{k}" for k in range(3)],
                annotator_ids=annotators,
                detected_at=now,
            ),
        ),
        outcome="never assigned",
        reference=f"hostile-{round_id}-cal",
    )
    add(
        "calibration",
        "impossible time",
        encoded(
            "calibration", calibration(f"hostile-{round_id}-cal-t", item_ids=[item_id], detected_at=FUTURE)
        ),
    )
    add(
        "models",
        "unknown URI scheme",
        encoded(
            "models",
            model_announcement(
                f"hostile-{round_id}-m2",
                artifact_uri="gopher://nowhere/model.skops",
                classes=classes,
                embedding_dim=dim,
                created_at=now,
            ),
        ),
        "default",
    )
    not_a_zip = workdir / f"hostile-{round_id}-model.skops"
    not_a_zip.write_bytes(b"this is not a zip archive")
    add(
        "models",
        "artifact not a zip",
        encoded(
            "models",
            model_announcement(
                f"hostile-{round_id}-m",
                artifact_uri=str(not_a_zip),
                classes=classes,
                embedding_dim=dim,
                created_at=now,
            ),
        ),
        "default",
    )
    add(
        "releases",
        "unknown URI scheme",
        encoded(
            "releases",
            release_announcement(
                f"hostile-{round_id}-r",
                uri=f"gopher://nowhere/hostile-{round_id}-r",
                created_at=now,
                labels_from=now - timedelta(hours=1),
                labels_to=now,
            ),
        ),
    )
    add(
        "releases",
        "missing release folder",
        encoded(
            "releases",
            release_announcement(
                f"hostile-{round_id}-r2",
                uri=str(workdir / f"no-such-release-{round_id}"),
                created_at=now,
                labels_from=now - timedelta(hours=1),
                labels_to=now,
            ),
        ),
    )
    return out
