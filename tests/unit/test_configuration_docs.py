"""docs/configuration.md is generated from the settings model; a stale copy misleads operators."""

from pathlib import Path

from alstream.settings_docs import render

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_configuration_reference_is_current() -> None:
    assert DOC.read_text() == render(), "regenerate: python -m alstream.settings_docs > docs/configuration.md"


def test_every_section_and_env_var_is_listed() -> None:
    text = render()
    for name in ("[kafka]", "[scorer]", "[router]", "[labels]", "[agreement]", "[release]", "[trainer]"):
        assert f"## `{name}`" in text
    assert "ALSTREAM_KAFKA__SASL_PASSWORD" in text and "ALSTREAM_TRAINER__VALIDATION_FILE" in text
