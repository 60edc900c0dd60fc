from __future__ import annotations

import pytest

from alstream.exceptions import ConfigError
from alstream.settings import load_settings


def test_agreement_and_labels_settings_come_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALSTREAM_AGREEMENT__Z_THRESHOLD", "2.5")
    monkeypatch.setenv("ALSTREAM_LABELS__ROOT_CAUSES", '["blur", "occlusion"]')
    settings = load_settings()
    assert settings.agreement.z_threshold == 2.5
    assert settings.labels.root_causes == ["blur", "occlusion"]


def test_inconsistent_calibration_bounds_name_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALSTREAM_AGREEMENT__CALIBRATION_MIN_ITEMS", "60")
    with pytest.raises(ConfigError, match="CALIBRATION_MIN_ITEMS"):
        load_settings()
