"""A person labels real digit images in Label Studio, in a real browser, and the loop takes the labels.

The whole path: candidates (digits rendered as PNG) -> the real router -> assignments -> the bridge ->
Label Studio tasks in the annotator's queue tab -> Chromium (driven by Playwright) logs in as the
annotator, opens the queue, labels several items and submits each -> the bridge -> the labels topic ->
the next release. The browser is Debian's chromium (``playwright install`` cannot download here).
"""

from __future__ import annotations

import base64
import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from confluent_kafka import Producer
from sklearn.datasets import load_digits

from alstream.agents.label_studio.local_server import LocalLabelStudio
from alstream.agents.release.builder import ITEMS_FILE
from alstream.agents.release.service import build_and_announce, store_for
from alstream.demo.images import digit_png
from alstream.settings import AlstreamSettings, load_settings
from alstream.streams.codecs import codec_for
from alstream.streams.kafka_config import producer_config
from tests.support.label_studio import (
    ANNOTATOR_PASSWORD,
    CHROMIUM_FLAGS,
    bridge_environment,
    decoded,
    log_tail,
    project_tasks,
    start_agent,
    start_bridge,
    stop_bridge,
)
from tests.support.records import candidate
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.broker, pytest.mark.slow]
DIGITS = [str(d) for d in range(10)]
ITEMS = 6
TO_LABEL = 3


def _produce_digit_candidates(settings: AlstreamSettings) -> dict[str, str]:
    """Candidates for real digits with their PNG as a data: URI; item_id -> true digit."""
    digits = load_digits()
    producer = Producer(producer_config(settings))
    codec = codec_for("candidates", settings)
    truth = {}
    now = datetime.now(tz=UTC)
    for index in range(ITEMS):
        item_id = f"digit-{index:05d}"
        uri = "data:image/png;base64," + base64.b64encode(digit_png(digits.data[index] / 16.0)).decode()
        record = candidate(item_id, score=0.9 - index / 100, selected_at=now, uri=uri, predicted_class="0")
        producer.produce(settings.kafka.topic("candidates"), key=item_id.encode(), value=codec.encode(record))
        truth[item_id] = str(int(digits.target[index]))
    assert producer.flush(30) == 0
    return truth


def _label_in_browser(
    server: LocalLabelStudio,
    chromium: str,
    *,
    email: str,
    project_id: int,
    queue: str,
    truth: dict[str, str],
    count: int,
    screenshot: Path,
) -> list[dict[str, Any]]:
    """Log in, open the queue tab, label ``count`` items with their true digit; what was shown, in order."""
    from playwright.sync_api import sync_playwright

    done: list[dict[str, Any]] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page()
            # Nothing leaves the machine: every request but Label Studio's own and data: URIs is refused.
            page.route(
                "**/*",
                lambda route: (
                    route.continue_()
                    if route.request.url.startswith((server.url, "data:"))
                    else route.abort()
                ),
            )
            page.goto(f"{server.url}/user/login/")
            page.fill("input[name=email]", email)
            page.fill("input[name=password]", ANNOTATOR_PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(lambda url: "/user/login" not in url)
            page.goto(f"{server.url}/projects/{project_id}/data")
            page.get_by_text(queue, exact=True).first.click()  # the annotator's queue tab
            with page.expect_response(lambda r: "next_task" in r.url) as shown:
                page.get_by_text("Label All Tasks").click()
            task = shown.value.json()
            for n in range(count):
                item_id = task["data"]["item_id"]
                page.locator(".lsf-choice__item input[name='" + truth[item_id] + "']").check()
                done.append({"task_id": task["id"], "item_id": item_id, "value": truth[item_id]})
                if n < count - 1:
                    with page.expect_response(lambda r: "next_task" in r.url) as shown:
                        page.get_by_test_id("bottombar-submit-button").click()
                    task = shown.value.json()
                else:
                    with page.expect_response(
                        lambda r: "/annotations" in r.url and r.request.method == "POST"
                    ):
                        page.get_by_test_id("bottombar-submit-button").click()
            page.screenshot(path=str(screenshot))
        finally:
            browser.close()
    return done


def test_a_person_labels_digits_in_the_browser_and_the_release_holds_them(
    topics: AlstreamSettings,
    label_studio: LocalLabelStudio,
    chromium_path: str,
    tmp_path: Path,
    unique_id: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = topics
    person = f"web-{unique_id}"
    quotas = tmp_path / "quotas.toml"
    quotas.write_text(
        'version = "browser-1"\nmax_hard_per_day = 50\nmin_normal_share = 0.0\nrandom_share = 0.0\n'
        "qa_rate = 0.0\noverlap_fraction = 0.0\nmax_in_flight = 10\nlease_seconds = 900\n"
    )
    env = bridge_environment(
        settings,
        label_studio,
        annotators=[person],
        state_dir=tmp_path / "state",
        task_name=f"digits-{unique_id}",
        classes=DIGITS,
        ALSTREAM_LABEL_STUDIO__QUEUE_SIZE="4",
        ALSTREAM_PATHS__QUOTAS_FILE=str(quotas),
    )
    truth = _produce_digit_candidates(settings)
    router_log, bridge_log = tmp_path / "router.log", tmp_path / "bridge.log"
    router = start_agent("router", env, router_log, log_level="WARNING")
    bridge = start_bridge(env, bridge_log)
    title = f"alstream: digits-{unique_id}"
    try:
        tasks = wait_until(
            lambda: (found := project_tasks(label_studio, title)) and len(found) >= TO_LABEL and found,
            timeout_s=120,
            what="the router's assignments in the person's queue",
            diagnose=lambda: log_tail(bridge_log) + "\n" + log_tail(router_log),
        )
        done = _label_in_browser(
            label_studio,
            chromium_path,
            email=f"{person}@alstream.local",
            project_id=tasks[0]["project"],
            queue=person,
            truth=truth,
            count=TO_LABEL,
            screenshot=tmp_path / "after-submit.png",
        )
        labeled = {d["item_id"] for d in done}
        assert len(labeled) == TO_LABEL

        def labels() -> list[dict[str, Any]]:
            return [x for x in decoded(settings, "labels") if x["item_id"] in labeled]

        wait_until(
            lambda: len(labels()) == TO_LABEL,
            timeout_s=60,
            what="the browser's labels on the labels topic",
            diagnose=lambda: log_tail(bridge_log),
        )
        assert bridge.poll() is None and router.poll() is None
    finally:
        stop_bridge(bridge)
        stop_bridge(router)

    annotations = {
        t["data"]["item_id"]: t["annotations"][0]
        for t in project_tasks(label_studio, title)
        if t["annotations"]
    }
    for label in labels():
        item_id = label["item_id"]
        assert (label["annotator_id"], label["status"], label["value"]) == (person, "LABELED", truth[item_id])
        annotation = annotations[item_id]
        submitted = datetime.fromisoformat(annotation["updated_at"].replace("Z", "+00:00"))
        # Millisecond timestamps on the topic; the time per item is Label Studio's measured lead time.
        assert abs((label["submitted_at"] - submitted).total_seconds()) < 0.001
        spent = (label["submitted_at"] - label["started_at"]).total_seconds()
        assert spent > 0 and abs(spent - annotation["lead_time"]) < 0.002, (spent, annotation["lead_time"])

    # The next release holds them (the release reads the same topics the labels agent does).
    monkeypatch.setenv("ALSTREAM_PATHS__STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("ALSTREAM_TASK__CLASSES", '["0","1","2","3","4","5","6","7","8","9"]')
    release_settings = load_settings()
    outcome = build_and_announce(release_settings, cutoff=datetime.now(tz=UTC), announce=False)
    assert outcome is not None
    rows = pq.read_table(
        io.BytesIO(store_for(release_settings).read_bytes(outcome.release.release_id, ITEMS_FILE))
    ).to_pylist()
    released = {row["item_id"]: row["label"] for row in rows}
    assert {item: released.get(item) for item in labeled} == {item: truth[item] for item in labeled}
