"""The router against hostile inputs from a stranger's client (schemas/ and docs/ only).

* A label the labels agent refuses (a value outside the classes, a submission in year 9999) never
  completes the lease: the router dead-letters it with the labels agent's reason, the lease expires and
  the item goes back to the pool, where another annotator gets it. A valid label completes its lease.
* A READY dated 1970 is refused (ImpossibleTime) and puts nothing into the latency histogram.
* Candidates with NaN or infinite scores are refused (NotFinite) and never assigned.
* An annotator id starting with the reserved ``__`` gets no work (ReservedAnnotator).
"""

from __future__ import annotations

import math
import time
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from alstream.annotation.client import AnnotationClient
from alstream.annotation.exceptions import InvalidLabel
from alstream.settings import AlstreamSettings
from alstream.streams.embedded_broker import free_port
from tests.support.raw_avro import RawClient, decode, error_headers
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.broker, pytest.mark.slow]

LEASE_S = 15


def now_ms() -> int:
    return int(time.time() * 1000)


def event(annotator_id: str, event_type: str, *, ready_for: int = 0, occurred_at: int | None = None) -> dict:
    return {
        "event_id": uuid.uuid4().hex,
        "annotator_id": annotator_id,
        "event_type": event_type,
        "ready_for": ready_for,
        "skills": [],
        "group": None,
        "occurred_at": now_ms() if occurred_at is None else occurred_at,
    }


def label(assignment: dict[str, Any], value: str, *, submitted_at: int | None = None) -> dict[str, Any]:
    submitted = now_ms() if submitted_at is None else submitted_at
    return {
        "label_id": uuid.uuid4().hex,
        "assignment_id": assignment["assignment_id"],
        "item_id": assignment["item_id"],
        "annotator_id": assignment["annotator_id"],
        "status": "LABELED",
        "value": value,
        "root_cause": None,
        "started_at": now_ms() - 5_000,
        "submitted_at": submitted,
    }


def metric(port: int, name: str, **labels: str) -> float:
    """A sample of the router's /metrics (0 while absent or the endpoint is not up yet)."""
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
    except OSError:
        return 0.0
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    )


def test_refused_inputs_never_touch_a_lease_the_pool_or_a_metric(
    topics: AlstreamSettings, tmp_path: Path, kit
) -> None:
    quotas = tmp_path / "quotas.toml"
    quotas.write_text(
        'version = "hostile-1"\nmax_hard_per_day = 100\nmin_normal_share = 0.0\nrandom_share = 0.0\n'
        f"qa_rate = 0.0\noverlap_fraction = 0.0\nmax_in_flight = 20\nlease_seconds = {LEASE_S}\n"
    )
    client = RawClient(bootstrap=topics.kafka.bootstrap_servers or "", prefix=topics.kafka.topic_prefix)
    good = ["good-0", "good-1", "good-2"]
    for item_id in good:
        client.send("candidates", item_id, kit.candidate(item_id, score=0.5))
    client.send("candidates", "nan-score", kit.candidate("nan-score", score=math.nan))
    client.send("candidates", "inf-score", kit.candidate("inf-score", score=math.inf))
    client.flush()

    port = free_port()
    log = tmp_path / "router.log"
    router = kit.start_router(
        log,
        {
            "ALSTREAM_PATHS__QUOTAS_FILE": str(quotas),
            "ALSTREAM_PATHS__STATE_DIR": str(tmp_path / "state"),
            "ALSTREAM_ROUTER__TICK_INTERVAL_S": "1",
            "ALSTREAM_METRICS__PORT": str(port),
        },
    )

    def diagnose() -> str:
        return "router log tail:\n" + "\n".join(log.read_text(errors="replace").splitlines()[-40:])

    def assignments_of(annotator_id: str) -> dict[str, dict[str, Any]]:
        found = [
            decode("assignments", m.value()) for m in client.read_all("assignments", group=uuid.uuid4().hex)
        ]
        return {a["item_id"]: a for a in found if a["annotator_id"] == annotator_id}

    def asks_for_work(annotator_id: str, wanted: set[str]) -> Any:
        def ask() -> dict[str, dict[str, Any]]:
            client.send_to_every_partition(
                "annotator-events", annotator_id, event(annotator_id, "READY", ready_for=10)
            )
            client.flush()
            got = assignments_of(annotator_id)
            return got if wanted <= set(got) else {}

        return ask

    try:
        client.send_to_every_partition("annotator-events", "ann-a", event("ann-a", "ONLINE"))
        client.send_to_every_partition(
            "annotator-events", "ann-a", event("ann-a", "READY", ready_for=10, occurred_at=0)
        )
        client.send_to_every_partition("annotator-events", "__evil", event("__evil", "READY", ready_for=10))
        client.flush()
        first = wait_until(
            asks_for_work("ann-a", set(good)),
            timeout_s=120,
            interval_s=1.0,
            what="ann-a's work",
            diagnose=diagnose,
        )
        assert set(first) == set(good)  # never the NaN / infinite candidates

        zebra, late, valid = (first[item_id] for item_id in good)
        client.send("labels", zebra["item_id"], label(zebra, "zebra"))
        client.send("labels", late["item_id"], label(late, "cat", submitted_at=253_370_764_800_000))
        client.send("labels", valid["item_id"], label(valid, "dog"))
        client.flush()

        # The refused labels left their leases open: they expire and their items return to the pool.
        client.send_to_every_partition("annotator-events", "ann-b", event("ann-b", "ONLINE"))
        second = wait_until(
            asks_for_work("ann-b", {zebra["item_id"], late["item_id"]}),
            timeout_s=120,
            interval_s=1.0,
            what="the items of the refused labels back in the pool, for ann-b",
            diagnose=diagnose,
        )
        assert set(second) == {zebra["item_id"], late["item_id"]}  # the labeled item never came back

        def router_dead_letters() -> dict[str, set[str]]:
            letters = [
                error_headers(m) | {"key": m.key().decode()}
                for m in client.read_all("dead-letters", group=uuid.uuid4().hex)
            ]
            by_key: dict[str, set[str]] = {}
            for headers in letters:
                if headers["agent"] == "router":
                    by_key.setdefault(headers["key"], set()).add(headers["class"])
            return by_key

        expected = {
            "nan-score": {"NotFinite"},
            "inf-score": {"NotFinite"},
            "ann-a": {"ImpossibleTime"},
            "__evil": {"ReservedAnnotator"},
            zebra["item_id"]: {"ValueNotInClasses"},
            late["item_id"]: {"LateLabel"},
        }
        wait_until(
            lambda: router_dead_letters() == expected,  # these, and nothing else (not the valid label)
            timeout_s=60,
            what="the router's dead letters with the contract's reasons",
            diagnose=lambda: str(router_dead_letters()),
        )
        assert assignments_of("__evil") == {}

        wait_until(
            lambda: metric(port, "alstream_router_labels_total", outcome="completed") == 1,
            timeout_s=30,
            what="the valid label completing its lease",
        )
        assert metric(port, "alstream_router_labels_total", outcome="refused") == 2
        assert metric(port, "alstream_router_lease_expiries_total") == 2
        # the READY of 1970 would have added ~1.8e9 s; every observed latency is a real wait
        assert metric(port, "alstream_router_ready_to_assignment_seconds_count") >= 2
        assert metric(port, "alstream_router_ready_to_assignment_seconds_sum") < 86_400
    finally:
        assert kit.stop(router) == 0, diagnose()

    # The annotation SDK refuses such labels before sending them (the same contract).
    with AnnotationClient(settings=topics, annotator_id="ann-c") as sdk:
        an_hour_ago = datetime.now(tz=UTC) - timedelta(hours=1)
        expired = {
            **zebra,
            "annotator_id": "ann-c",
            "assigned_at": an_hour_ago,
            "lease_expires_at": an_hour_ago + timedelta(seconds=LEASE_S),
        }
        with pytest.raises(InvalidLabel) as refused:
            sdk.submit(expired, value="cat", started_at=an_hour_ago)
        assert refused.value.reason == "LateLabel"
        with pytest.raises(InvalidLabel) as refused:
            sdk.submit({**zebra, "annotator_id": "ann-c"}, value="zebra", started_at=zebra["assigned_at"])
        assert refused.value.reason == "ValueNotInClasses"
