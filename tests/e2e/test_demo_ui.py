"""``alstream demo --ui``: a person labels digits in the browser while the simulated annotators work.

The demo runs as a user starts it (``Demo`` with ``ui=True``); the test reads the login it prints, and
Chromium (Playwright) labels a few digits in Label Studio. The person's labels must reach the demo's
audit (read from the topics) and the final release, beside the simulated annotators' labels.
"""

from __future__ import annotations

import csv
import io
import re
import threading
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from rich.console import Console

from alstream.agents.label_studio.local_server import LabelStudioNotInstalled, find_executable
from alstream.demo.options import DemoOptions
from alstream.demo.orchestrator import Demo, DemoResult
from tests.support.label_studio import CHROMIUM_FLAGS, missing
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.broker, pytest.mark.slow]
TO_LABEL = 3


class _SharedText(io.StringIO):
    """The demo's console output, readable from the test thread while the demo writes it."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()

    def write(self, text: str) -> int:
        with self.lock:
            return super().write(text)

    def text(self) -> str:
        with self.lock:
            return self.getvalue()


def test_a_person_labels_in_the_demo_beside_the_simulated_annotators(
    chromium_path: str, tmp_path: Path
) -> None:
    try:
        find_executable()
    except LabelStudioNotInstalled as exc:
        missing(str(exc))
    output = tmp_path / "demo"
    shown = _SharedText()
    options = DemoOptions(output_dir=output, duration_s=60.0, retrain_every_s=25.0, live_view=False, ui=True)
    demo = Demo(options=options, console=Console(file=shown, width=300))
    outcome: dict[str, DemoResult | BaseException] = {}

    def run() -> None:
        try:
            outcome["result"] = demo.run()
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            outcome["error"] = exc

    runner = threading.Thread(target=run, name="demo")
    runner.start()
    try:
        login = wait_until(
            lambda: (
                re.search(r"Label Studio at (http://\S+)\s+log in as (\S+) / (\S+)", shown.text())
                or ("error" in outcome and pytest.fail(f"demo failed: {outcome['error']!r}"))
            ),
            timeout_s=600,  # the first start of a Label Studio version migrates its database
            what="the demo's Label Studio login",
            interval_s=0.5,
        )
        url, email, password = login.groups()
        truth_file = output / "data" / "truth.csv"
        with truth_file.open() as handle:
            truth = {row["item_id"]: row["label"] for row in csv.DictReader(handle)}
        labeled = _label_digits(chromium_path, url=url, email=email, password=password, truth=truth)
    finally:
        runner.join(timeout=600)
    assert "error" not in outcome, outcome.get("error")
    result = outcome["result"]
    assert isinstance(result, DemoResult)
    assert result.facts["labels_per_annotator"].get("you", 0) >= TO_LABEL, result.facts[
        "labels_per_annotator"
    ]
    assert len(result.facts["labels_per_annotator"]) == 5  # four simulated annotators and the person
    rows = pq.read_table(result.release_dirs[-1] / "labels.parquet").to_pylist()
    mine = {row["item_id"]: row["value"] for row in rows if row["annotator_id"] == "you"}
    assert {item: mine.get(item) for item in labeled} == {item: truth[item] for item in labeled}


def _label_digits(chromium: str, *, url: str, email: str, password: str, truth: dict[str, str]) -> list[str]:
    from playwright.sync_api import sync_playwright

    labeled = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page()
            page.route(
                "**/*",
                lambda route: (
                    route.continue_() if route.request.url.startswith((url, "data:")) else route.abort()
                ),
            )
            page.goto(f"{url}/user/login/")
            page.fill("input[name=email]", email)
            page.fill("input[name=password]", password)
            page.click("button[type=submit]")
            page.wait_for_url(lambda address: "/user/login" not in address)
            # The queue fills once the bridge has the person's first assignments (their account too).
            projects = page.request.get(f"{url}/api/projects").json()["results"]  # as the person sees them
            project_id = next(p["id"] for p in projects if p["title"] == "alstream: digits")
            project_page = f"{url}/projects/{project_id}/data"

            def queue_shown() -> bool:
                page.goto(project_page)
                page.wait_for_load_state("networkidle")
                return page.get_by_text("you", exact=True).count() > 0

            wait_until(queue_shown, timeout_s=120, interval_s=2, what="the person's queue tab")
            page.get_by_text("you", exact=True).first.click()
            with page.expect_response(lambda r: "next_task" in r.url) as next_task:
                page.get_by_text("Label All Tasks").click()
            for _ in range(TO_LABEL):
                task = next_task.value.json()
                item_id = task["data"]["item_id"]
                page.locator(".lsf-choice__item input[name='" + truth[item_id] + "']").check()
                with page.expect_response(lambda r: "next_task" in r.url, timeout=120_000) as next_task:
                    page.get_by_test_id("bottombar-submit-button").click()
                labeled.append(item_id)
        finally:
            browser.close()
    return labeled
