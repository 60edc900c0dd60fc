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
from tests.support import records
from tests.support.raw_avro import RawClient, decode, error_headers
from tests.support.router_process import live_candidate, start_router, stop
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.broker, pytest.mark.slow]

LEASE_S = 15


def now() -> datetime:
    return datetime.now(tz=UTC)


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
    topics: AlstreamSettings, tmp_path: Path
) -> None:
    quotas = tmp_path / "quotas.toml"
    quotas.write_text(
        'version = "hostile-1"\nmax_hard_per_day = 100\nmin_normal_share = 0.0\nrandom_share = 0.0\n'
        f"qa_rate = 0.0\noverlap_fraction = 0.0\nmax_in_flight = 20\nlease_seconds = {LEASE_S}\n"
    )
    client = RawClient(bootstrap=topics.kafka.bootstrap_servers or "", prefix=topics.kafka.topic_prefix)
    good = ["good-0", "good-1", "good-2"]
    for item_id in good:
        client.send("candidates", item_id, live_candidate(item_id, score=0.5))
    client.send("candidates", "nan-score", live_candidate("nan-score", score=math.nan))
    client.send("candidates", "inf-score", live_candidate("inf-score", score=math.inf))
    client.flush()

    port = free_port()
    log = tmp_path / "router.log"
    router = start_router(
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
                "annotator-events",
                annotator_id,
                records.annotator_event(annotator_id, ready_for=10, occurred_at=now()),
            )
            client.flush()
            got = assignments_of(annotator_id)
            return got if wanted <= set(got) else {}

        return ask

    try:
        client.send_to_every_partition(
            "annotator-events",
            "ann-a",
            records.annotator_event("ann-a", event_type="ONLINE", occurred_at=now()),
        )
        client.send_to_every_partition(
            "annotator-events",
            "ann-a",
            records.annotator_event("ann-a", ready_for=10, occurred_at=datetime(1970, 1, 1, tzinfo=UTC)),
        )
        client.send_to_every_partition(
            "annotator-events", "__evil", records.annotator_event("__evil", ready_for=10, occurred_at=now())
        )
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
        started = now() - timedelta(seconds=5)
        for assignment, value, submitted_at in (
            (zebra, "zebra", now()),
            (late, "cat", datetime(9999, 1, 1, tzinfo=UTC)),
            (valid, "dog", now()),
        ):
            answer = records.label(
                uuid.uuid4().hex, of=assignment, value=value, submitted_at=submitted_at, started_at=started
            )
            client.send("labels", assignment["item_id"], answer)
        client.flush()

        # The refused labels left their leases open: they expire and their items return to the pool.
        client.send_to_every_partition(
            "annotator-events",
            "ann-b",
            records.annotator_event("ann-b", event_type="ONLINE", occurred_at=now()),
        )
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
        assert stop(router) == 0, diagnose()

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
