"""Agents SIGKILLed at random points and the broker frozen, under steady load: zero acknowledged losses.

Bounded to about two minutes here; ``bench/bench_faults.py`` runs the same campaign longer.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from campaign import Campaign, CampaignConfig

pytestmark = [pytest.mark.broker, pytest.mark.slow]


@pytest.mark.timeout(420)
def test_no_acknowledged_record_is_lost_under_faults(tmp_path: Path, campaign_reports: list) -> None:
    config = CampaignConfig(
        duration_s=60,
        items_per_s=300,
        labels_per_s=15,
        agent_kills={"scorer": 3, "router": 2, "labels": 2},
        broker_freezes=2,
        seed=9,
    )
    report = Campaign(config, tmp_path).run()
    text = report.render()
    campaign_reports.append(text)
    print(text)
    assert not report.errors, report.errors
    assert report.figures["items acknowledged under load"] > 5_000
    assert sum(report.faults.values()) >= 9, "faults were not injected"
    assert report.total_losses == 0, text
